/// A deterministic chain for tests and drills: seeded, with a mempool, blocks, reorganisations
/// of a chosen depth, and transactions that a reorg drops (never mined again) or keeps (mined
/// again in a later block). The same seed and calls give the same chain, hashes included.
///
/// Transfers come from outside (`send`: a depositor, no balance kept) or from an account the
/// chain keeps (`submit`: the hot wallet), which has a balance and nonces as on Ethereum: a
/// transaction is mined only in nonce order and while its sender can pay, a second transaction
/// with a nonce already taken is refused, and the same transaction submitted again is one
/// transfer. A fee spike (`minimumFee` above what a transaction offers) keeps kept accounts'
/// transactions waiting in the mempool until it passes. Addresses are lower-case hex text.
public struct SimulatedChain: Sendable {
    public struct Transaction: Sendable, Hashable {
        public var hash: String
        /// Nil for a transfer from outside the simulated world.
        public var from: String?
        public var nonce: UInt64?
        public var to: String
        public var amount: UInt128
        /// What the sender offers per transaction (base units; 0 from outside).
        public var fee: UInt128 = 0
    }

    public enum SubmitError: Error, Equatable, Sendable, CustomStringConvertible {
        /// Another transaction of the sender has this nonce.
        case nonceTaken(UInt64)
        case malformed

        public var description: String {
            switch self {
            case .nonceTaken(let nonce): "nonce too low: \(nonce) is taken by another transaction"
            case .malformed: "not a simulated transfer"
            }
        }
    }

    public struct Block: Sendable, Equatable {
        public var number: UInt64
        public var hash: String
        public var parentHash: String
        public var transactions: [Transaction]
    }

    /// The canonical chain, genesis first.
    public private(set) var blocks: [Block]
    /// Sent, not mined.
    public private(set) var mempool: [Transaction] = []
    /// The chance (0...1) that a transaction a reorg takes out of the chain is dropped rather
    /// than returned to the mempool.
    public var dropChance: Double
    /// The least fee a kept account's transaction must offer to be mined now (a spike raises it).
    public var minimumFee: UInt128 = 0
    private var random: SplitMix64
    private var counter: UInt64 = 0

    public init(seed: UInt64, dropChance: Double = 0.2) {
        random = SplitMix64(seed: seed)
        self.dropChance = dropChance
        blocks = []
        blocks = [Block(number: 0, hash: nextHash("block"), parentHash: "0x0", transactions: [])]
    }

    public var tip: Block { blocks[blocks.count - 1] }

    /// A fresh hash: Keccak-256 of the seed's stream and a counter, in hex.
    private mutating func nextHash(_ kind: String) -> String {
        counter += 1
        let material = Array("\(kind):\(counter):\(random.next())".utf8)
        return "0x" + Hex.encode(Keccak256.hash(material))
    }

    /// Sends `amount` to `address`; it waits in the mempool. Returns its hash.
    @discardableResult
    public mutating func send(to address: String, amount: UInt128) -> String {
        let transaction = Transaction(hash: nextHash("tx"), to: address, amount: amount)
        mempool.append(transaction)
        return transaction.hash
    }

    /// A signed transfer of a kept account (the raw form `SimulatedTransfer` encodes): into
    /// the mempool, or nothing if the chain has it already. Returns its hash.
    public mutating func submit(_ transfer: SimulatedTransfer) throws(SubmitError) -> String {
        let hash = transfer.hash
        if mempool.contains(where: { $0.hash == hash }) || blocks.contains(where: { $0.transactions.contains { $0.hash == hash } }) { return hash }
        let taken = (blocks.flatMap(\.transactions) + mempool).contains { $0.from == transfer.from && $0.nonce == transfer.nonce }
        guard !taken else { throw .nonceTaken(transfer.nonce) }
        mempool.append(Transaction(hash: hash, from: transfer.from, nonce: transfer.nonce, to: transfer.to, amount: transfer.amount, fee: transfer.fee))
        return hash
    }

    /// What `address` holds on the canonical chain: received minus sent (kept accounts pay no gas here).
    public func balance(of address: String) -> UInt128 {
        var balance: UInt128 = 0
        for transaction in blocks.flatMap(\.transactions) {
            if transaction.to == address { balance += transaction.amount }
            if transaction.from == address { balance -= transaction.amount }
        }
        return balance
    }

    /// The next nonce of a kept account, its mempool transactions included.
    public func nextNonce(of address: String) -> UInt64 {
        ((blocks.flatMap(\.transactions) + mempool).compactMap { $0.from == address ? $0.nonce : nil }.max()).map { $0 + 1 } ?? 0
    }

    /// Mines a block with up to `capacity` mempool transactions, oldest first; a kept
    /// account's transaction waits while an earlier nonce of it is unmined or it cannot pay.
    @discardableResult
    public mutating func mine(capacity: Int = .max) -> Block {
        var included: [Transaction] = []
        var spent: [String: UInt128] = [:]
        var nonces: [String: UInt64] = [:]
        var remaining: [Transaction] = []
        for transaction in mempool {
            guard included.count < capacity else {
                remaining.append(transaction)
                continue
            }
            if let from = transaction.from, let nonce = transaction.nonce {
                let expected = nonces[from] ?? minedNonces(of: from)
                let available = balance(of: from) - (spent[from] ?? 0)
                guard nonce == expected, available >= transaction.amount, transaction.fee >= minimumFee else {
                    remaining.append(transaction)
                    continue
                }
                nonces[from] = nonce + 1
                spent[from, default: 0] += transaction.amount
            }
            included.append(transaction)
        }
        mempool = remaining
        let block = Block(number: tip.number + 1, hash: nextHash("block"), parentHash: tip.hash, transactions: included)
        blocks.append(block)
        return block
    }

    /// The next nonce the chain will mine for `address`.
    func minedNonces(of address: String) -> UInt64 {
        (blocks.flatMap(\.transactions).compactMap { $0.from == address ? $0.nonce : nil }.max()).map { $0 + 1 } ?? 0
    }

    /// Where transaction `hash` is: mined in block N, waiting, or unknown (never sent, or dropped).
    public func status(of hash: String) -> TransactionStatus {
        if let block = blocks.first(where: { $0.transactions.contains { $0.hash == hash } }) { return .mined(blockNumber: block.number, succeeded: true) }
        return mempool.contains { $0.hash == hash } ? .pending : .unknown
    }

    /// Replaces the newest `depth` blocks with as many new empty ones: their transactions go
    /// back to the mempool, or are dropped with `dropChance`. Returns the dropped ones.
    @discardableResult
    public mutating func reorganise(depth: Int) -> [Transaction] {
        let depth = min(depth, blocks.count - 1)
        let removed = blocks.suffix(depth)
        blocks.removeLast(depth)
        var dropped: [Transaction] = []
        var returned: [Transaction] = []
        for transaction in removed.flatMap(\.transactions) {
            if Double(random.next() % 1_000_000) / 1_000_000 < dropChance { dropped.append(transaction) } else { returned.append(transaction) }
        }
        mempool.insert(contentsOf: returned, at: 0)
        for _ in 0..<depth { mine(capacity: 0) }
        return dropped
    }

    /// Block `number` of the canonical chain, if mined.
    public func block(_ number: UInt64) -> Block? { number < blocks.count ? blocks[Int(number)] : nil }
}

/// A transfer of a kept account in its raw form (what the simulated chain's "broadcast"
/// takes): RLP of [from, nonce, to, amount, fee]. Its hash is Keccak-256 of those bytes, so
/// the same transfer sent twice is the same transaction.
public struct SimulatedTransfer: Sendable, Equatable {
    public var from: String
    public var nonce: UInt64
    public var to: String
    public var amount: UInt128
    public var fee: UInt128

    public init(from: String, nonce: UInt64, to: String, amount: UInt128, fee: UInt128 = 1) {
        self.from = from.lowercased()
        self.nonce = nonce
        self.to = to.lowercased()
        self.amount = amount
        self.fee = fee
    }

    public var raw: [UInt8] {
        RLP.list([.bytes(Array(from.utf8)), .integer(UInt128(nonce)), .bytes(Array(to.utf8)), .integer(amount), .integer(fee)]).encoded
    }

    public var hash: String { "0x" + Hex.encode(Keccak256.hash(raw)) }

    /// Decodes `raw`; nil unless it is exactly what `raw` makes.
    public init?(raw: [UInt8]) {
        guard case .list(let items)? = RLP.decode(raw), items.count == 5, case .bytes(let from) = items[0], case .bytes(let nonce) = items[1],
              case .bytes(let to) = items[2], case .bytes(let amount) = items[3], case .bytes(let fee) = items[4], nonce.count <= 8, amount.count <= 16,
              fee.count <= 16 else { return nil }
        self.init(
            from: String(decoding: from, as: UTF8.self), nonce: UInt64(RLP.integer(nonce)), to: String(decoding: to, as: UTF8.self),
            amount: RLP.integer(amount), fee: RLP.integer(fee))
        guard self.raw == raw else { return nil }
    }
}

/// SplitMix64: a small, fast, seedable generator (Steele, Lea, Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
