import ExchangeCore

/// A symbol's aggregated book (price level → total resting quantity), as the shard's
/// `levelChanged` events leave it, with the update id of its last change.
///
/// Update ids are shard input log positions: the position of the entry whose events changed
/// the book. They increase, and every market-data instance derives the same ones from the
/// same log, so a REST snapshot and a stream agree whichever instance served them.
///
/// Invariants: `bidPrices` strictly decreasing, `askPrices` strictly increasing (best first),
/// every listed price has a positive quantity in `quantities`, and none other does.
public struct DepthBook: Sendable {
    public struct Level: Sendable, Hashable {
        public var priceTicks: Int64
        public var lots: Int64
        public init(priceTicks: Int64, lots: Int64) {
            self.priceTicks = priceTicks
            self.lots = lots
        }
    }

    struct LevelKey: Hashable {
        var side: OrderSide
        var priceTicks: Int64
    }

    public private(set) var lastUpdateID: UInt64
    private var bidPrices: [Int64] = []
    private var askPrices: [Int64] = []
    private var quantities: [LevelKey: Int64] = [:]

    /// An empty book whose last change is `updateID` (a snapshot's position, or the
    /// position that added the symbol).
    public init(updateID: UInt64) { lastUpdateID = updateID }

    /// Sets one level to `lots` (0 removes it) at update id `updateID` (never below the last).
    public mutating func set(side: OrderSide, priceTicks: Int64, lots: Int64, updateID: UInt64) {
        precondition(updateID >= lastUpdateID, "update ids never go back")
        precondition(lots >= 0)
        lastUpdateID = updateID
        let key = LevelKey(side: side, priceTicks: priceTicks)
        let existed = quantities[key] != nil
        if lots == 0 {
            guard existed else { return }
            quantities[key] = nil
            withPrices(of: side) { prices, better in
                prices.remove(at: Self.index(of: priceTicks, in: prices, better: better))
            }
        } else {
            quantities[key] = lots
            guard !existed else { return }
            withPrices(of: side) { prices, better in
                prices.insert(priceTicks, at: Self.index(of: priceTicks, in: prices, better: better))
            }
        }
    }

    /// The best `limit` levels of a side, best first.
    public func levels(_ side: OrderSide, limit: Int) -> [Level] {
        let prices = side == .buy ? bidPrices : askPrices
        return prices.prefix(limit).map { Level(priceTicks: $0, lots: quantities[LevelKey(side: side, priceTicks: $0)]!) }
    }

    /// The best level of a side, if any.
    public func best(_ side: OrderSide) -> Level? { levels(side, limit: 1).first }

    /// The resting quantity at one price, 0 if none.
    public func lots(_ side: OrderSide, priceTicks: Int64) -> Int64 { quantities[LevelKey(side: side, priceTicks: priceTicks)] ?? 0 }

    public func levelCount(_ side: OrderSide) -> Int { side == .buy ? bidPrices.count : askPrices.count }

    private mutating func withPrices(of side: OrderSide, _ body: (inout [Int64], (Int64, Int64) -> Bool) -> Void) {
        if side == .buy { body(&bidPrices, >) } else { body(&askPrices, <) }
    }

    /// The first index whose price is not better than `price` (binary search).
    private static func index(of price: Int64, in prices: [Int64], better: (Int64, Int64) -> Bool) -> Int {
        var low = 0, high = prices.count
        while low < high {
            let middle = (low + high) / 2
            if better(prices[middle], price) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// The changes of a symbol's book since the last published diff, for one stream speed
/// (Binance's `depthUpdate` with `U`/`u`).
///
/// Invariant: the diffs published form a chain, each one's `firstUpdateID` is the previous
/// one's `lastUpdateID + 1`, starting after the book's update id when the chain began; a diff
/// holds each changed level once, at its latest quantity (0 = removed).
public struct DepthDiffChain: Sendable {
    public struct Diff: Sendable, Hashable {
        public var firstUpdateID: UInt64
        public var lastUpdateID: UInt64
        /// Changed levels, best first; `lots` 0 means the level is gone.
        public var bids: [DepthBook.Level]
        public var asks: [DepthBook.Level]
    }

    public private(set) var lastPublishedID: UInt64
    private var pendingLastID: UInt64?
    private var pending: [DepthBook.LevelKey: Int64] = [:]

    /// A chain that continues after update id `updateID` (the book's at the time).
    public init(after updateID: UInt64) { lastPublishedID = updateID }

    public var hasChanges: Bool { pendingLastID != nil }

    public mutating func record(side: OrderSide, priceTicks: Int64, lots: Int64, updateID: UInt64) {
        precondition(updateID > lastPublishedID, "a change after the last published diff")
        pending[DepthBook.LevelKey(side: side, priceTicks: priceTicks)] = lots
        pendingLastID = updateID
    }

    /// The diff of everything recorded since the last one, nil if nothing was.
    public mutating func publish() -> Diff? {
        guard let last = pendingLastID else { return nil }
        var bids: [DepthBook.Level] = [], asks: [DepthBook.Level] = []
        for (key, lots) in pending {
            let level = DepthBook.Level(priceTicks: key.priceTicks, lots: lots)
            if key.side == .buy { bids.append(level) } else { asks.append(level) }
        }
        bids.sort { $0.priceTicks > $1.priceTicks }
        asks.sort { $0.priceTicks < $1.priceTicks }
        let diff = Diff(firstUpdateID: lastPublishedID + 1, lastUpdateID: last, bids: bids, asks: asks)
        lastPublishedID = last
        pendingLastID = nil
        pending.removeAll(keepingCapacity: true)
        return diff
    }
}
