import ExchangeAccess
import Testing

/// RFC 6238's published SHA-1 vectors (secret "12345678901234567890"), the last 6 of their 8 digits.
struct TOTPTests {
    static let secret = Array("12345678901234567890".utf8)

    @Test("RFC 6238 vectors", arguments: [(Int64(59), "287082"), (1_111_111_109, "081804"), (1_111_111_111, "050471"), (1_234_567_890, "005924"),
                                           (2_000_000_000, "279037"), (20_000_000_000, "353130")])
    func vectors(time: Int64, code: String) {
        #expect(TOTP.code(secret: Self.secret, counter: TOTP.step(unixSeconds: time)) == code)
        #expect(TOTP.matchingStep(code, secret: Self.secret, unixSeconds: time) == TOTP.step(unixSeconds: time))
    }

    @Test("one step of drift either side is accepted, two are not; malformed codes never match")
    func window() {
        let code = TOTP.code(secret: Self.secret, counter: 100)
        #expect(TOTP.matchingStep(code, secret: Self.secret, unixSeconds: 99 * 30) == 100)
        #expect(TOTP.matchingStep(code, secret: Self.secret, unixSeconds: 101 * 30 + 29) == 100)
        #expect(TOTP.matchingStep(code, secret: Self.secret, unixSeconds: 102 * 30) == nil)
        #expect(TOTP.matchingStep(code, secret: Self.secret, unixSeconds: 98 * 30) == nil)
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] { #expect(TOTP.matchingStep(bad, secret: Self.secret, unixSeconds: 3_000) == nil) }
        #expect(TOTP.matchingStep(TOTP.code(secret: Self.secret, counter: 0), secret: Self.secret, unixSeconds: 0) == 0)
    }

    @Test("base32 (RFC 4648 vectors, no padding) and the provisioning URI")
    func encoding() {
        for (text, encoded) in [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI")] {
            #expect(TOTP.base32(Array(text.utf8)) == encoded)
        }
        #expect(TOTP.provisioningURI(secret: Array("foobar".utf8), account: "a b@x.io", issuer: "Open Exchange")
            == "otpauth://totp/Open%20Exchange:a%20b%40x.io?secret=MZXW6YTBOI&issuer=Open%20Exchange&digits=6&period=30")
    }
}
