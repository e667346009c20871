import Crypto
import Foundation

/// Short-lived access tokens: JSON Web Tokens signed with HS256 (RFC 7519), claims `sub`
/// (the user id, decimal), `iat` and `exp` (seconds since the Unix epoch), `jti` and
/// `typ: "access"`. Refresh tokens are not JWTs: they are random, stored hashed and revocable
/// (see the gateway's session store).
///
/// Pure: the caller passes the time and the token id in. Verification refuses any header but
/// `{"alg":"HS256","typ":"JWT"}`, a bad signature (constant-time comparison), an expired
/// token and malformed claims.
public struct AccessTokenSigner: Sendable {
    public struct Claims: Codable, Sendable, Equatable {
        public var sub: String
        public var iat: Int64
        public var exp: Int64
        public var jti: String
        public var typ: String

        public init(userID: UInt64, issuedAtSeconds: Int64, expiresAtSeconds: Int64, tokenID: String) {
            sub = String(userID)
            iat = issuedAtSeconds
            exp = expiresAtSeconds
            jti = tokenID
            typ = "access"
        }

        public var userID: UInt64? { UInt64(sub) }
    }

    public enum Failure: Error, Equatable, Sendable {
        case malformed
        case badSignature
        case expired
    }

    private let key: SymmetricKey

    /// - Precondition: `secret` has at least 32 bytes (HS256's key should be as long as its hash).
    public init(secret: [UInt8]) {
        precondition(secret.count >= 32, "an HS256 key needs at least 32 bytes")
        key = SymmetricKey(data: secret)
    }

    static let header = base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    public func sign(_ claims: Claims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding a struct of strings and integers cannot fail.
        let payload = Self.base64URL(Array(try! encoder.encode(claims)))
        let signingInput = Self.header + "." + payload
        let signature = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return signingInput + "." + Self.base64URL(Array(signature))
    }

    /// The token's claims if it is ours, well formed and not expired at `nowSeconds`.
    public func verify(_ token: String, nowSeconds: Int64) throws(Failure) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.header[...], let signature = Self.bytes(base64URL: parts[2]) else { throw .malformed }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else { throw .badSignature }
        guard let payload = Self.bytes(base64URL: parts[1]),
              let claims = try? JSONDecoder().decode(Claims.self, from: Data(payload)),
              claims.typ == "access", claims.userID != nil else { throw .malformed }
        guard nowSeconds < claims.exp else { throw .expired }
        return claims
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func bytes(base64URL text: Substring) -> [UInt8]? {
        guard text.utf8.allSatisfy({ $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "/") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64).map(Array.init)
    }
}

/// Where every role finds when a user's sessions were last ended (Redis key → Unix seconds):
/// an access token issued before it is refused. Staff set it (force logout, lock); the
/// gateway checks it with every session request.
public enum SessionRevocation {
    public static func sessionsAfterKey(user: UInt64) -> String { "gw:sessions-after:\(user)" }
}
