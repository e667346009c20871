import Crypto

/// Binance's request signature: lower-case hex HMAC-SHA256, under the API key's secret, of the
/// raw query string followed by the raw body, with no separator and with the `signature` pair
/// removed, byte for byte as received (still percent-encoded).
///
/// Pure: no clock, no I/O. Comparison is constant-time and ignores the case of the hex digits.
public enum RequestSignature {
    /// The longest signature text accepted (64 hex digits for SHA-256; a little slack for
    /// clients that pad, which are still refused by the comparison).
    public static let maximumLength = 128

    /// What is signed: `query` and `body` concatenated with every `signature=...` pair taken
    /// out, and the signature those pairs carried (the last one, as the parameter parser
    /// keeps the last value of a repeated name); nil when none was sent.
    public static func payload(query: [UInt8], body: [UInt8]) -> (signed: [UInt8], signature: String?) {
        var signature: String?
        var signed: [UInt8] = []
        signed.reserveCapacity(query.count + body.count)
        for part in [query, body] {
            var kept: [ArraySlice<UInt8>] = []
            for pair in part.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
                if pair.starts(with: Array("signature=".utf8)) {
                    signature = String(decoding: pair.dropFirst(10), as: UTF8.self)
                } else {
                    kept.append(pair)
                }
            }
            // Rejoin what is left as it was, without the signature pair and its separator.
            for (index, pair) in kept.enumerated() {
                if index > 0 { signed.append(UInt8(ascii: "&")) }
                signed.append(contentsOf: pair)
            }
        }
        return (signed, signature)
    }

    /// The hex signature of `payload` under `secret`.
    public static func sign(_ payload: [UInt8], secret: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: payload, using: SymmetricKey(data: secret))
        return hex(Array(code))
    }

    /// Whether `signature` (hex, either case) is the HMAC of `payload` under `secret`;
    /// constant-time in the signature's content.
    public static func isValid(_ signature: String, payload: [UInt8], secret: [UInt8]) -> Bool {
        guard signature.utf8.count == 64, let bytes = bytes(hex: signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: payload, using: SymmetricKey(data: secret))
    }

    /// The WebSocket API's payload: every parameter but `signature`, sorted by name, as
    /// `name=value` joined with `&`.
    public static func webSocketPayload(_ parameters: [(name: String, value: String)]) -> [UInt8] {
        let text = parameters.filter { $0.name != "signature" }.sorted { $0.name < $1.name }.map { "\($0.name)=\($0.value)" }
            .joined(separator: "&")
        return Array(text.utf8)
    }

    public static func hexString(_ bytes: [UInt8]) -> String { hex(bytes) }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or nil.
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}

/// Binance's time window of a signed request, in milliseconds since the Unix epoch.
///
/// Accepted when `timestamp < now + 1000` and `now - timestamp <= recvWindow`; `recvWindow`
/// defaults to 5000 and may be at most 60000 (Binance's rules, which clients rely on).
public struct RequestTimeWindow: Sendable, Equatable {
    public static let defaultWindowMilliseconds: Int64 = 5_000
    public static let maximumWindowMilliseconds: Int64 = 60_000
    /// How far ahead of the server's clock a timestamp may be.
    public static let allowedLeadMilliseconds: Int64 = 1_000

    public enum Verdict: Sendable, Equatable {
        case accepted
        /// `recvWindow` is not within 1...60000 (Binance -1131 would be its own code; clients
        /// see it as a bad parameter).
        case invalidWindow
        /// Too old or too far in the future (-1021).
        case outsideWindow
    }

    /// Judges `timestamp` against `now` with `windowMilliseconds` (nil: the default).
    public static func check(timestamp: Int64, windowMilliseconds: Int64?, now: Int64) -> Verdict {
        let window = windowMilliseconds ?? defaultWindowMilliseconds
        guard window > 0, window <= maximumWindowMilliseconds else { return .invalidWindow }
        let (lead, leadOverflow) = now.addingReportingOverflow(allowedLeadMilliseconds)
        guard !leadOverflow, timestamp < lead else { return .outsideWindow }
        let (age, ageOverflow) = now.subtractingReportingOverflow(timestamp)
        guard !ageOverflow, age <= window else { return .outsideWindow }
        return .accepted
    }
}
