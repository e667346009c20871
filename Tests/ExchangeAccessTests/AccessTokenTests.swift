import ExchangeAccess
import Testing

@Suite struct AccessTokenTests {
    let signer = AccessTokenSigner(secret: Array(repeating: 7, count: 32))

    @Test("a token verifies until it expires, then is refused")
    func expiry() throws {
        let token = signer.sign(.init(userID: 42, issuedAtSeconds: 1_000, expiresAtSeconds: 1_900, tokenID: "t1"))
        let claims = try signer.verify(token, nowSeconds: 1_899)
        #expect(claims.userID == 42 && claims.jti == "t1")
        #expect(throws: AccessTokenSigner.Failure.expired) { try signer.verify(token, nowSeconds: 1_900) }
    }

    @Test("another key's token, a changed payload and garbage are refused")
    func forgery() {
        let token = signer.sign(.init(userID: 42, issuedAtSeconds: 1_000, expiresAtSeconds: 1_900, tokenID: "t1"))
        let other = AccessTokenSigner(secret: Array(repeating: 8, count: 32))
        #expect(throws: AccessTokenSigner.Failure.badSignature) { try other.verify(token, nowSeconds: 1_000) }
        let forged = signer.sign(.init(userID: 43, issuedAtSeconds: 1_000, expiresAtSeconds: 1_900, tokenID: "t1"))
        let parts = token.split(separator: ".")
        let mixed = "\(parts[0]).\(forged.split(separator: ".")[1]).\(parts[2])"
        #expect(throws: AccessTokenSigner.Failure.badSignature) { try signer.verify(mixed, nowSeconds: 1_000) }
        #expect(throws: AccessTokenSigner.Failure.malformed) { try signer.verify("a.b", nowSeconds: 1_000) }
        #expect(throws: AccessTokenSigner.Failure.malformed) { try signer.verify("eyJhbGciOiJub25lIn0.e30.", nowSeconds: 1_000) }
    }
}

@Suite struct SnowflakeTests {
    @Test("ids strictly increase, through a clock step back and a full millisecond")
    func monotonic() {
        var generator = SnowflakeGenerator(worker: 5)
        let base = SnowflakeGenerator.epochMilliseconds + 1_000
        var last: UInt64 = 0
        for step in 0..<10_000 {
            let now = step == 5_000 ? base - 10 : base
            let id = generator.next(nowMilliseconds: now)
            #expect(id > last)
            last = id
        }
        #expect(SnowflakeGenerator.milliseconds(of: last) >= base)
        #expect(last < UInt64(Int64.max))
        #expect(SnowflakeGenerator.worker(of: last) == 5)
    }

    @Test("two workers never give the same id in the same millisecond")
    func workersDiffer() {
        var a = SnowflakeGenerator(worker: 1)
        var b = SnowflakeGenerator(worker: 2)
        let now = SnowflakeGenerator.epochMilliseconds + 77
        #expect(Set((0..<100).flatMap { _ in [a.next(nowMilliseconds: now), b.next(nowMilliseconds: now)] }).count == 200)
        // Ids another holder of worker 1 issued with a clock 30 s ahead: the next ones are above them.
        var ahead = SnowflakeGenerator(worker: 1)
        let theirs = (0..<3).map { _ in ahead.next(nowMilliseconds: now + 30_000) }
        a.issue(after: theirs[2])
        a.issue(after: theirs[0])
        #expect(a.next(nowMilliseconds: now) > theirs[2])
        // An earlier holder of worker 2 appended at a time 10 s ahead of this clock.
        b.issue(afterMilliseconds: now + 10_000)
        #expect(SnowflakeGenerator.milliseconds(of: b.next(nowMilliseconds: now)) > now + 10_000)
        var last = SnowflakeGenerator(worker: SnowflakeGenerator.maximumWorker)
        #expect(SnowflakeGenerator.worker(of: last.next(nowMilliseconds: now)) == SnowflakeGenerator.maximumWorker)
        #expect(SnowflakeGenerator.worker(of: a.next(nowMilliseconds: now)) == 1)
    }
}

@Suite struct CredentialsTests {
    @Test("emails are trimmed and lower-cased; malformed ones refused", arguments: [
        (" Alice@Example.COM ", "alice@example.com"), ("a@b.c", "a@b.c"), ("no-at.example.com", nil), ("a@b", nil),
        ("a b@c.d", nil), ("@c.d", nil), ("a@@c.d", nil), ("a@.c", nil),
    ] as [(String, String?)])
    func emails(input: String, expected: String?) {
        #expect(Credentials.normalizedEmail(input) == expected)
    }

    @Test("password policy")
    func passwords() {
        #expect(throws: Credentials.PasswordProblem.tooShort) { try Credentials.checkPassword("abc123") }
        #expect(throws: Credentials.PasswordProblem.needsLetterAndDigit) { try Credentials.checkPassword("abcdefghijkl") }
        #expect(throws: Credentials.PasswordProblem.tooLong) { try Credentials.checkPassword(String(repeating: "a1", count: 40)) }
        #expect(throws: Credentials.PasswordProblem.controlCharacter) { try Credentials.checkPassword("correct horse 1\u{0}") }
        #expect(throws: Never.self) { try Credentials.checkPassword("correct horse 1") }
    }

    @Test("permissions parse by name with read implied; whitelists allow listed addresses only")
    func permissionsAndWhitelist() {
        #expect(APIKeyPermissions(names: ["trade"]) == [.read, .trade])
        #expect(APIKeyPermissions(names: ["admin"]) == nil)
        #expect(APIKeyPermissions([.read, .withdraw]).names == ["read", "withdraw"])
        let list = IPWhitelist(["127.0.0.1", "::1"])!
        #expect(list.allows("::1") && !list.allows("10.0.0.1") && !list.allows(nil))
        #expect(IPWhitelist([])!.allows("10.0.0.1"))
        #expect(IPWhitelist(["not an ip"]) == nil)
    }

    @Test("whitelist entries are IPv4 or IPv6 addresses, nothing else", arguments: [
        ("10.0.0.1", true), ("0.0.0.0", true), ("255.255.255.255", true), ("300.1.2.3", false), ("1.2.3", false), ("1.2.3.4.5", false),
        ("01.2.3.4", false), ("1.2.3.", false), ("a.b.c.d", false), ("::1", true), ("::", true), ("2001:db8::1", true),
        ("2001:db8:0:0:0:0:0:1", true), ("::ffff:10.0.0.1", true), ("2001:db8::1::2", false), ("12345::1", false), ("1:2:3:4:5:6:7", false),
        ("1:2:3:4:5:6:7:8:9", false), ("g::1", false), ("::ffff:300.0.0.1", false), ("", false), ("deadbeef", false),
    ])
    func whitelistAddresses(address: String, valid: Bool) {
        #expect((IPWhitelist([address]) != nil) == valid, "\(address)")
    }
}

@Suite struct SecretBoxTests {
    @Test("a sealed secret opens under its key id only, and the sealed bytes do not contain it")
    func sealing() throws {
        let box = SecretBox(masterKey: Array(repeating: 1, count: 32))
        let secret = Array("supersecretvalue".utf8)
        let sealed = try box.seal(secret, boundTo: "key-1")
        #expect(try box.open(sealed, boundTo: "key-1") == secret)
        #expect(throws: (any Error).self) { try box.open(sealed, boundTo: "key-2") }
        #expect(!String(decoding: sealed, as: UTF8.self).contains("supersecret"))
    }
}

@Suite struct RateLimitPolicyTests {
    let policy = RateLimitPolicy(requestWeightPerMinute: 10, ordersPer10Seconds: 2, ordersPerDay: 3)

    @Test("limits by weight, by orders per 10 s and per day; a ban wins")
    func verdicts() {
        #expect(policy.judge(weightThisMinute: 10, ordersThis10Seconds: 2, ordersToday: 3, isBanned: false) == .allowed)
        #expect(policy.judge(weightThisMinute: 11, ordersThis10Seconds: nil, ordersToday: nil, isBanned: false) == .limited(.minute))
        #expect(policy.judge(weightThisMinute: 1, ordersThis10Seconds: 3, ordersToday: 3, isBanned: false) == .limited(.tenSeconds))
        #expect(policy.judge(weightThisMinute: 1, ordersThis10Seconds: 1, ordersToday: 4, isBanned: false) == .limited(.day))
        #expect(policy.judge(weightThisMinute: 1, ordersThis10Seconds: nil, ordersToday: nil, isBanned: true) == .banned)
    }

    @Test("windows and Retry-After")
    func windows() {
        #expect(RateLimitPolicy.windowStart(of: .minute, nowMilliseconds: 125_000) == 120_000)
        #expect(RateLimitPolicy.retryAfterSeconds(.minute, nowMilliseconds: 125_000) == 55)
        #expect(RateLimitPolicy.retryAfterSeconds(.tenSeconds, nowMilliseconds: 129_999) == 1)
    }
}
