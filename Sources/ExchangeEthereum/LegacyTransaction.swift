import ExchangeChain

/// An Ethereum transaction of the original form, replay-protected by EIP-155 (the chain id
/// is in what is signed, and in `v`): what a withdrawal of the native coin sends.
/// Amounts are wei; gas price is wei per gas.
public struct LegacyTransaction: Sendable, Equatable {
    public var nonce: UInt64
    public var gasPrice: UInt128
    public var gasLimit: UInt64
    public var to: EthereumAddress
    public var value: UInt128
    public var data: [UInt8]
    public var chainID: UInt64

    public init(nonce: UInt64, gasPrice: UInt128, gasLimit: UInt64, to: EthereumAddress, value: UInt128, data: [UInt8] = [], chainID: UInt64) {
        self.nonce = nonce
        self.gasPrice = gasPrice
        self.gasLimit = gasLimit
        self.to = to
        self.value = value
        self.data = data
        self.chainID = chainID
    }

    var fields: [RLP] {
        [.integer(UInt128(nonce)), .integer(gasPrice), .integer(UInt128(gasLimit)), .bytes(to.bytes), .integer(value), .bytes(data)]
    }

    /// What is hashed and signed (EIP-155: the fields, then chain id, 0, 0).
    public var signingPayload: [UInt8] { RLP.list(fields + [.integer(UInt128(chainID)), .integer(0), .integer(0)]).encoded }

    /// The raw signed transaction for `eth_sendRawTransaction`, and its hash.
    public func signed(with key: EthereumKey) -> (raw: [UInt8], hash: [UInt8]) {
        let signature = key.sign(hash: Keccak256.hash(signingPayload))
        let v = UInt128(chainID) * 2 + 35 + UInt128(signature.recoveryID)
        let raw = RLP.list(fields + [.integer(v), .bytes(Self.trimmed(signature.r)), .bytes(Self.trimmed(signature.s))]).encoded
        return (raw, Keccak256.hash(raw))
    }

    /// A big-endian integer's bytes without leading zeros (RLP's form of r and s).
    static func trimmed(_ bytes: [UInt8]) -> [UInt8] { Array(bytes.drop { $0 == 0 }) }
}

/// The hot wallet's signer for native-coin withdrawals: EIP-155 legacy transactions of
/// `gasLimit` gas at `gasPrice` wei on chain `chainID`.
public struct EthereumTransferSigner: TransferSigner {
    let key: EthereumKey
    public let chainID: UInt64
    public let gasPrice: UInt128
    public let gasLimit: UInt64

    public init(key: EthereumKey, chainID: UInt64, gasPrice: UInt128, gasLimit: UInt64 = 21_000) {
        self.key = key
        self.chainID = chainID
        self.gasPrice = gasPrice
        self.gasLimit = gasLimit
    }

    public var address: String { key.address.description.lowercased() }

    public func sign(to recipient: String, amount: UInt128, nonce: UInt64) throws -> SignedTransfer {
        let transaction = LegacyTransaction(
            nonce: nonce, gasPrice: gasPrice, gasLimit: gasLimit, to: try EthereumAddress(parsing: recipient), value: amount, chainID: chainID)
        let (raw, hash) = transaction.signed(with: key)
        return SignedTransfer(raw: raw, hash: "0x" + Hex.encode(hash))
    }
}
