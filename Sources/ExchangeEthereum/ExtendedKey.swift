import CSecp256k1
import Crypto
import ExchangeChain

/// Why an extended key was refused.
public enum ExtendedKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case hardenedFromPublic
    /// The derivation hit an invalid key (probability below 2^-127; BIP-32 says skip the index).
    case invalidChild(UInt32)

    public var description: String {
        switch self {
        case .malformed(let why): "not a BIP-32 extended key: \(why)"
        case .hardenedFromPublic: "a hardened child cannot be derived from a public key"
        case .invalidChild(let index): "child \(index) is not a valid key (use the next index)"
        }
    }
}

/// A BIP-32 extended public key: what the deposit watcher holds, so it derives one address per
/// (asset, user) without any private key on its host. Only non-hardened children derive from
/// it (`child`), exactly as from the private side, so the cold side can spend what arrives.
///
/// Invariant: `key` is a valid compressed secp256k1 point (33 bytes), `chainCode` 32 bytes.
public struct ExtendedPublicKey: Sendable, Equatable, CustomStringConvertible {
    public let key: [UInt8]
    public let chainCode: [UInt8]
    public let depth: UInt8
    /// The version bytes of mainnet `xpub`.
    static let version: [UInt8] = [0x04, 0x88, 0xB2, 0x1E]

    init(key: [UInt8], chainCode: [UInt8], depth: UInt8) {
        self.key = key
        self.chainCode = chainCode
        self.depth = depth
    }

    /// Parses the Base58Check text (`xpub…`), checksum and point checked.
    public init(parsing text: String) throws(ExtendedKeyError) {
        let bytes = try ExtendedKeyCodec.decode(text)
        guard Array(bytes[0..<4]) == Self.version else { throw .malformed("not an xpub (its version bytes)") }
        let key = Array(bytes[45..<78])
        guard key[0] == 2 || key[0] == 3, Secp256k1Point.parse(key) != nil else { throw .malformed("its key is not a point of secp256k1") }
        self.init(key: key, chainCode: Array(bytes[13..<45]), depth: bytes[4])
    }

    /// Non-hardened child `index` (< 2^31): K + IL·G with I = HMAC-SHA512(c, K ‖ index).
    public func child(_ index: UInt32) throws(ExtendedKeyError) -> ExtendedPublicKey {
        guard index < ExtendedPrivateKey.hardened else { throw .hardenedFromPublic }
        let digest = ExtendedKeyCodec.hmac(chainCode: chainCode, data: key + ExtendedKeyCodec.bigEndian(index))
        guard var point = Secp256k1Point.parse(key), let context = EthereumKey.context,
              secp256k1_ec_pubkey_tweak_add(context, &point, Array(digest[0..<32])) == 1 else { throw .invalidChild(index) }
        return ExtendedPublicKey(key: Secp256k1Point.serialize(point, compressed: true), chainCode: Array(digest[32..<64]), depth: depth &+ 1)
    }

    public func derive(_ path: [UInt32]) throws(ExtendedKeyError) -> ExtendedPublicKey {
        var key = self
        for index in path { key = try key.child(index) }
        return key
    }

    /// The Ethereum address of this key: the last 20 bytes of Keccak-256 of the uncompressed point.
    public var ethereumAddress: EthereumAddress {
        let point = Secp256k1Point.parse(key)!  // valid by the invariant
        return EthereumAddress(bytes: Array(Keccak256.hash(Secp256k1Point.serialize(point, compressed: false).dropFirst()).suffix(20)))
    }

    public var description: String { "ExtendedPublicKey(depth \(depth), \(Hex.encode(key)))" }
}

/// A BIP-32 extended private key: the cold side of deposit addresses (the operator's tool that
/// makes the xpub, and tests). Its secret never appears in a description.
public struct ExtendedPrivateKey: Sendable, CustomStringConvertible {
    public static let hardened: UInt32 = 0x8000_0000
    let secret: [UInt8]
    public let chainCode: [UInt8]
    public let depth: UInt8

    /// The master key of `seed` (16 to 64 bytes): I = HMAC-SHA512("Bitcoin seed", seed).
    public init(seed: [UInt8]) throws(ExtendedKeyError) {
        guard (16...64).contains(seed.count) else { throw .malformed("a seed is 16 to 64 bytes") }
        let digest = Array(HMAC<SHA512>.authenticationCode(for: seed, using: SymmetricKey(data: Array("Bitcoin seed".utf8))))
        guard let context = EthereumKey.context, secp256k1_ec_seckey_verify(context, Array(digest[0..<32])) == 1 else { throw .invalidChild(0) }
        self.init(secret: Array(digest[0..<32]), chainCode: Array(digest[32..<64]), depth: 0)
    }

    init(secret: [UInt8], chainCode: [UInt8], depth: UInt8) {
        self.secret = secret
        self.chainCode = chainCode
        self.depth = depth
    }

    public var publicKey: ExtendedPublicKey {
        var point = secp256k1_pubkey()
        _ = secp256k1_ec_pubkey_create(EthereumKey.context!, &point, secret)  // valid by construction
        return ExtendedPublicKey(key: Secp256k1Point.serialize(point, compressed: true), chainCode: chainCode, depth: depth)
    }

    /// Child `index` (hardened from 2^31): k + IL mod n.
    public func child(_ index: UInt32) throws(ExtendedKeyError) -> ExtendedPrivateKey {
        let data = index >= Self.hardened ? [0] + secret : publicKey.key
        let digest = ExtendedKeyCodec.hmac(chainCode: chainCode, data: data + ExtendedKeyCodec.bigEndian(index))
        var child = secret
        guard let context = EthereumKey.context, secp256k1_ec_seckey_tweak_add(context, &child, Array(digest[0..<32])) == 1 else { throw .invalidChild(index) }
        return ExtendedPrivateKey(secret: child, chainCode: Array(digest[32..<64]), depth: depth &+ 1)
    }

    public func derive(_ path: [UInt32]) throws(ExtendedKeyError) -> ExtendedPrivateKey {
        var key = self
        for index in path { key = try key.child(index) }
        return key
    }

    /// The signing key of this node (for the hot wallet, or to sweep a deposit address).
    public var signingKey: EthereumKey { try! EthereumKey(bytes: secret) }  // valid by construction

    /// The master's `xpub` text (depth 0: no parent fingerprint to compute), for `exchange wallet keygen`.
    public var serializedPublicKey: String? {
        guard depth == 0 else { return nil }
        return ExtendedKeyCodec.encode(ExtendedPublicKey.version + [0, 0, 0, 0, 0, 0, 0, 0, 0] + chainCode + publicKey.key)
    }

    public var description: String { "ExtendedPrivateKey(depth \(depth))" }
}

/// Points through libsecp256k1.
enum Secp256k1Point {
    static func parse(_ bytes: [UInt8]) -> secp256k1_pubkey? {
        var point = secp256k1_pubkey()
        guard let context = EthereumKey.context, secp256k1_ec_pubkey_parse(context, &point, bytes, bytes.count) == 1 else { return nil }
        return point
    }

    static func serialize(_ point: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var point = point
        var bytes = [UInt8](repeating: 0, count: compressed ? 33 : 65)
        var length = bytes.count
        secp256k1_ec_pubkey_serialize(EthereumKey.context!, &bytes, &length, &point, UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED))
        return bytes
    }
}

/// Base58Check framing and the HMAC of BIP-32.
enum ExtendedKeyCodec {
    static func hmac(chainCode: [UInt8], data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA512>.authenticationCode(for: data, using: SymmetricKey(data: chainCode)))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    static func checksum(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: Array(SHA256.hash(data: bytes))).prefix(4)) }

    static func encode(_ payload: [UInt8]) -> String { Base58.encode(payload + checksum(payload)) }

    /// The 78 bytes of an extended key, checksum verified.
    static func decode(_ text: String) throws(ExtendedKeyError) -> [UInt8] {
        guard let bytes = Base58.decode(text) else { throw .malformed("a character outside Base58") }
        guard bytes.count == 82 else { throw .malformed("\(bytes.count) bytes, 82 expected") }
        let payload = Array(bytes[0..<78])
        guard checksum(payload) == Array(bytes[78...]) else { throw .malformed("its checksum does not match (a typo?)") }
        return payload
    }
}
