import CSecp256k1
import ExchangeChain

/// A secp256k1 private key for signing Ethereum transactions (the hot wallet's), through
/// libsecp256k1 (Debian's `libsecp256k1-dev`). Its bytes never appear in a description, a
/// log line or an error.
///
/// Invariant: the key is valid for secp256k1 (non-zero, below the curve order), checked by
/// `init`.
public struct EthereumKey: Sendable, CustomStringConvertible {
    private let secret: [UInt8]
    public let address: EthereumAddress

    public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
        case invalid
        public var description: String { "not a valid secp256k1 private key (32 bytes, non-zero, below the curve order)" }
    }

    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == 32, let context = Self.context, secp256k1_ec_seckey_verify(context, bytes) == 1 else { throw .invalid }
        var publicKey = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(context, &publicKey, bytes) == 1 else { throw .invalid }
        var serialized = [UInt8](repeating: 0, count: 65)
        var length = 65
        secp256k1_ec_pubkey_serialize(context, &serialized, &length, &publicKey, UInt32(SECP256K1_EC_UNCOMPRESSED))
        // The address: the last 20 bytes of Keccak-256 of the 64-byte public key (without the 0x04 prefix).
        address = EthereumAddress(bytes: Array(Keccak256.hash(serialized.dropFirst()).suffix(20)))
        secret = bytes
    }

    public var description: String { "EthereumKey(\(address))" }

    /// A recoverable ECDSA signature of a 32-byte hash: RFC 6979 nonces (deterministic), low s.
    public struct Signature: Sendable, Equatable {
        public var r: [UInt8]
        public var s: [UInt8]
        /// 0 or 1: which of the two candidate public keys signed.
        public var recoveryID: Int
    }

    public func sign(hash: [UInt8]) -> Signature {
        precondition(hash.count == 32, "sign a 32-byte hash")
        var signature = secp256k1_ecdsa_recoverable_signature()
        // A valid key and a 32-byte hash: signing cannot fail (RFC 6979 retries internally).
        guard let context = Self.context, secp256k1_ecdsa_sign_recoverable(context, &signature, hash, secret, nil, nil) == 1 else {
            preconditionFailure("libsecp256k1 refused to sign with a verified key")
        }
        var compact = [UInt8](repeating: 0, count: 64)
        var recoveryID: Int32 = 0
        secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &compact, &recoveryID, &signature)
        return Signature(r: Array(compact[0..<32]), s: Array(compact[32..<64]), recoveryID: Int(recoveryID))
    }

    /// One signing context for the process (libsecp256k1 contexts are safe to share for
    /// signing and verifying once created).
    nonisolated(unsafe) static let context: OpaquePointer? = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY))
}
