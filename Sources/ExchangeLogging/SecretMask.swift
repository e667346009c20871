/// Hides secrets in log records before they are written: the values of metadata keys that
/// name a secret, and secrets inside free text (`password=…`, `"secretKey":"…"`,
/// `Authorization: Bearer …`, JWTs, long hex strings such as HMAC signatures and the master
/// key). Pure; the same input always gives the same output.
///
/// Invariant: a masked secret is replaced by `***` whole; nothing of it is kept (no prefix,
/// no length).
public enum SecretMask {
    public static let replacement = "***"

    /// Key names (compared without case, `_` and `-`) whose values are secrets.
    static let secretKeyFragments = ["password", "secret", "token", "signature", "authorization", "masterkey", "tokenkey", "jwt", "cookie"]

    /// True if a metadata key or a `name=value` name holds a secret.
    public static func isSecretKey(_ key: String) -> Bool {
        let folded = String(key.lowercased().unicodeScalars.filter { $0 != "_" && $0 != "-" })
        return secretKeyFragments.contains { folded.contains($0) }
    }

    /// `text` with every secret replaced.
    public static func mask(_ text: String) -> String {
        var output = text
        // "name": "value" (JSON) and name=value / name: value (query strings, headers, logfmt).
        output.replace(#/(?<name>[A-Za-z_][A-Za-z0-9_\-]*)(?<sep>"?\s*[:=]\s*"?)(?<value>(?:Bearer\s+)?[^\s"&,;}]+)/#) { match in
            isSecretKey(String(match.output.name)) ? "\(match.output.name)\(match.output.sep)\(replacement)" : String(match.output.0)
        }
        output.replace(#/Bearer\s+[A-Za-z0-9\-._~+\/]+=*/#) { _ in "Bearer \(replacement)" }
        // JWTs: base64url header (always starting {" → eyJ), payload, signature.
        output.replace(#/eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*/#) { _ in replacement }
        // 64 or more hex digits: HMAC-SHA256 signatures, 32-byte keys.
        output.replace(#/\b[0-9A-Fa-f]{64,}\b/#) { _ in replacement }
        return output
    }
}
