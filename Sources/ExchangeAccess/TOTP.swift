import Crypto

/// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second steps,
/// 6 digits, what every authenticator app speaks. Pure: the caller passes the time.
///
/// A code is accepted for its step and one step either side (clock drift); the step that
/// matched is returned so the caller can refuse a code used twice.
public enum TOTP {
    public static let stepSeconds: Int64 = 30
    public static let digits = 6
    /// Secret length in bytes (160 bits, as RFC 4226 recommends).
    public static let secretBytes = 20

    /// HOTP(secret, counter) as `digits` decimal digits.
    public static func code(secret: [UInt8], counter: UInt64) -> String {
        var message = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { message[index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(index))) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = UInt32(mac[offset] & 0x7f) << 24 | UInt32(mac[offset + 1]) << 16 | UInt32(mac[offset + 2]) << 8 | UInt32(mac[offset + 3])
        let text = String(binary % 1_000_000)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The step of `unixSeconds`.
    public static func step(unixSeconds: Int64) -> UInt64 { UInt64(max(0, unixSeconds) / stepSeconds) }

    /// The step `code` is valid for at `unixSeconds` (within one step of drift), or nil.
    /// Compares every candidate in constant time.
    public static func matchingStep(_ code: String, secret: [UInt8], unixSeconds: Int64) -> UInt64? {
        guard code.utf8.count == digits, code.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        let now = step(unixSeconds: unixSeconds)
        var matched: UInt64?
        for candidate in [now &- 1, now, now + 1] where candidate <= now + 1 {
            var difference: UInt8 = 0
            for (a, b) in zip(Self.code(secret: secret, counter: candidate).utf8, code.utf8) { difference |= a ^ b }
            if difference == 0 { matched = candidate }
        }
        return matched
    }

    /// RFC 4648 base32 without padding: how authenticator apps take secrets.
    public static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var output = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return output
    }

    /// The `otpauth://` URI an authenticator app scans (`issuer:account`).
    public static func provisioningURI(secret: [UInt8], account: String, issuer: String) -> String {
        func escape(_ text: String) -> String {
            var result = ""
            for byte in text.utf8 {
                if (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || byte == 45 || byte == 46 || byte == 95 {
                    result.append(Character(Unicode.Scalar(byte)))
                } else {
                    result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
            return result
        }
        return "otpauth://totp/\(escape(issuer)):\(escape(account))?secret=\(base32(secret))&issuer=\(escape(issuer))&digits=\(digits)&period=\(stepSeconds)"
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String { String(repeating: "0", count: max(0, length - count)) + self }
}
