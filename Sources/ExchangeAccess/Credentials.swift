/// Rules for what users type: email addresses and passwords.
public enum Credentials {
    public static let maximumEmailLength = 254
    public static let minimumPasswordLength = 10
    /// bcrypt reads at most 72 bytes; longer passwords would be silently truncated.
    public static let maximumPasswordBytes = 72

    /// The address trimmed and lower-cased, if it looks like `local@domain.tld` (one `@`, a
    /// dot in the domain, no spaces or control characters); what makes an email unique.
    public static func normalizedEmail(_ text: String) -> String? {
        var trimmed = Substring(text)
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        let email = trimmed.lowercased()
        guard (3...maximumEmailLength).contains(email.utf8.count),
              email.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else { return nil }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else {
            return nil
        }
        return email
    }

    public enum PasswordProblem: Error, Equatable, Sendable, CustomStringConvertible {
        case tooShort
        case tooLong
        case needsLetterAndDigit
        case controlCharacter

        public var description: String {
            switch self {
            case .tooShort: "password must have at least \(Credentials.minimumPasswordLength) characters"
            case .tooLong: "password must have at most \(Credentials.maximumPasswordBytes) bytes"
            case .needsLetterAndDigit: "password must contain a letter and a digit"
            case .controlCharacter: "password must not contain control characters"
            }
        }
    }

    /// Checks the password policy: 10 characters or more, at most 72 bytes, a letter and a
    /// digit, no control characters.
    public static func checkPassword(_ password: String) throws(PasswordProblem) {
        guard password.count >= minimumPasswordLength else { throw .tooShort }
        guard password.utf8.count <= maximumPasswordBytes else { throw .tooLong }
        guard password.contains(where: \.isLetter), password.contains(where: \.isNumber) else { throw .needsLetterAndDigit }
        // bcrypt stops at a NUL byte: everything after it would not count.
        guard password.utf8.allSatisfy({ $0 >= 32 && $0 != 127 }) else { throw .controlCharacter }
    }
}
