/// A deterministic chain for tests and drills: seeded, with a mempool, blocks, reorganisations
/// of a chosen depth, and transactions that a reorg drops (never mined again) or keeps (mined
/// again in a later block). The same seed and calls give the same chain, hashes included.
public struct SimulatedChain: Sendable {
    public struct Transaction: Sendable, Hashable {
        public var hash: String
        public var to: String
        public var amount: UInt128
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

    /// Mines a block with up to `capacity` mempool transactions (oldest first).
    @discardableResult
    public mutating func mine(capacity: Int = .max) -> Block {
        let included = Array(mempool.prefix(capacity))
        mempool.removeFirst(included.count)
        let block = Block(number: tip.number + 1, hash: nextHash("block"), parentHash: tip.hash, transactions: included)
        blocks.append(block)
        return block
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
