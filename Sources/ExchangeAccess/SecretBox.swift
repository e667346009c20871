import Crypto

/// API key secrets at rest: AES-256-GCM under the master key, `nonce (12) · ciphertext · tag
/// (16)`, with the key's id as associated data so a sealed secret cannot be moved to another
/// key's row. The master key comes from the environment or a file, never from the repository.
public struct SecretBox: Sendable {
    public static let masterKeyBytes = 32
    private let key: SymmetricKey

    /// - Precondition: `masterKey` is 32 bytes.
    public init(masterKey: [UInt8]) {
        precondition(masterKey.count == Self.masterKeyBytes, "the master key is 32 bytes")
        key = SymmetricKey(data: masterKey)
    }

    public func seal(_ secret: [UInt8], boundTo keyID: String) throws -> [UInt8] {
        let box = try AES.GCM.seal(secret, using: key, authenticating: Array(keyID.utf8))
        guard let combined = box.combined else { throw SecretBoxError.sealingFailed }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8], boundTo keyID: String) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Array(try AES.GCM.open(box, using: key, authenticating: Array(keyID.utf8)))
    }

    /// SHA-256 of `bytes`, hex: how refresh tokens are stored (a stolen table gives no token).
    public static func digest(_ bytes: [UInt8]) -> String {
        RequestSignature.hex(Array(SHA256.hash(data: bytes)))
    }
}

public enum SecretBoxError: Error, Equatable {
    case sealingFailed
}
