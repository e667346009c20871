/// A block as the deposit watcher sees it: its place in the chain and the payments in it to
/// addresses the exchange watches. Amounts are the chain's base units (wei for Ether).
public struct WatchedBlock: Sendable, Equatable {
    public var number: UInt64
    public var hash: String
    public var parentHash: String
    public var payments: [ChainPayment]

    public init(number: UInt64, hash: String, parentHash: String, payments: [ChainPayment]) {
        self.number = number
        self.hash = hash
        self.parentHash = parentHash
        self.payments = payments
    }
}

/// One payment to a watched address: what a deposit is made of.
public struct ChainPayment: Sendable, Hashable {
    /// The deposit's identity on its chain: a payment is credited at most once by it.
    public struct Key: Sendable, Hashable, CustomStringConvertible {
        public var transactionHash: String
        public var outputIndex: UInt32

        public init(transactionHash: String, outputIndex: UInt32) {
            self.transactionHash = transactionHash
            self.outputIndex = outputIndex
        }

        public var description: String { "\(transactionHash):\(outputIndex)" }
    }

    public var key: Key
    public var address: String
    public var amount: UInt128

    public init(key: Key, address: String, amount: UInt128) {
        self.key = key
        self.address = address
        self.amount = amount
    }
}

/// Where a transaction stands on its chain.
public enum TransactionStatus: Sendable, Equatable {
    /// The node does not know it (never received, or dropped).
    case unknown
    /// Known, not in a block yet.
    case pending
    /// In block `blockNumber`; `succeeded` is false when it ran and reverted.
    case mined(blockNumber: UInt64, succeeded: Bool)
}

/// What the wallet needs of a chain. Adapters live at the edge: the simulated chain for
/// tests and drills, Ethereum JSON-RPC for a real node (geth, reth, anvil, or py-evm behind
/// eth-tester). Addresses and hashes are the chain's text forms.
public protocol ChainAdapter: Sendable {
    /// The newest block's number.
    func latestBlockNumber() async throws -> UInt64
    /// Block `number` with its payments to `addresses`; nil if it is not mined yet.
    func block(_ number: UInt64, paymentsTo addresses: Set<String>) async throws -> WatchedBlock?
    /// Sends a signed transaction; returns its hash. Sending bytes the node already has is
    /// not an error (a rebroadcast after a crash).
    func broadcast(_ rawTransaction: [UInt8]) async throws -> String
    func status(ofTransaction hash: String) async throws -> TransactionStatus
    /// The next nonce of `address`, pending transactions included.
    func nextNonce(of address: String) async throws -> UInt64
    func balance(of address: String) async throws -> UInt128
}

/// A transfer signed and ready to broadcast, with its hash (the chain's id of it).
public struct SignedTransfer: Sendable, Equatable {
    public var raw: [UInt8]
    public var hash: String

    public init(raw: [UInt8], hash: String) {
        self.raw = raw
        self.hash = hash
    }
}

/// The hot wallet's signing side: a transfer of `amount` base units to `recipient` with
/// `nonce`. Deterministic: the same arguments give the same bytes. Its key never leaves it.
public protocol TransferSigner: Sendable {
    /// The hot wallet's address (lower-case hex text, as `ChainAdapter` compares addresses).
    var address: String { get }
    func sign(to recipient: String, amount: UInt128, nonce: UInt64) throws -> SignedTransfer
}
