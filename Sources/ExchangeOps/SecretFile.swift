import Foundation

/// A secret kept in a file (keys, tokens, passwords handed to processes out of their command
/// lines): its first line without surrounding whitespace, so a file written with or without
/// a final newline, or with CRLF, reads the same.
public enum SecretFile {
    /// The secret in `path`, or nil when the file cannot be read.
    public static func read(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return String(text.prefix { $0 != "\n" }).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
