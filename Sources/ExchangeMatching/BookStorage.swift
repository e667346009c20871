import ExchangeCore

/// A slot number in the engine's order or level pool; `nil` is `UInt32.max`.
typealias Slot = UInt32

extension Slot {
    static let nilSlot: Slot = .max
}

/// One resting order, stored in the engine's order pool (48 bytes with padding).
///
/// Invariants while resting: `0 < remaining <= quantity`; `previous`/`next` link the orders
/// of `level` in time priority; the order is in the id index under `orderID`.
/// A free slot has `remaining == 0` and `next` links the free list.
struct RestingOrder: Sendable {
    var orderID: OrderID
    var userID: UserID
    /// Original quantity in lots, as lowered by amends.
    var quantity: Int64
    /// Open quantity in lots.
    var remaining: Int64
    var previous: Slot
    var next: Slot
    var level: Slot
}

/// One price level of one side of one book, stored in the engine's level pool (32 bytes).
///
/// Invariants while in use: `orderCount > 0`; `totalQuantity` is the sum of its orders'
/// `remaining`; `head`/`tail` are its oldest and newest orders.
struct PriceLevel: Sendable {
    var price: Int64
    var totalQuantity: Int64
    var head: Slot
    var tail: Slot
    var orderCount: UInt32
    /// `symbolID << 1 | side`.
    var bookSide: UInt32

    /// The side this level is on (the low bit of `bookSide`).
    var side: OrderSide { bookSide & 1 == 0 ? .buy : .sell }
}

/// A level's place in a side's sorted array: `key` is the price for bids and minus the
/// price for asks, so both sides sort ascending with the best price last (cheap to pop,
/// and most inserts land near the end).
struct LevelKey: Sendable {
    var key: Int64
    var level: Slot
}

extension OrderSide {
    /// The sort key of `price` on this side (see `LevelKey`).
    @inline(__always)
    func key(of price: Int64) -> Int64 { self == .buy ? price : -price }
}

/// One symbol's book: its two sides, its trade counter and the rules every place checks.
///
/// Hot data only (stride 64, no reference but the two arrays; one-byte fields last so they
/// pack): the full `SymbolSpec`, with
/// its name, lives in the engine's cold `specs` array. The best key of each side is cached
/// here so a passive order checks for a cross without touching the other side's array.
///
/// Invariant: `bestBidKey == bids.last?.key ?? emptySideKey`, likewise for asks; the side
/// arrays change only through the methods below, which keep it.
struct OrderBook: Sendable {
    /// The cached best key of an empty side: below every level key (keys are ±price with
    /// price > 0) and below every crossing key.
    static let emptySideKey = Int64.min

    /// Bid levels, ascending by price: best (highest) last.
    private(set) var bids: [LevelKey]
    /// Ask levels, descending by price: best (lowest) last.
    private(set) var asks: [LevelKey]
    private(set) var bestBidKey = OrderBook.emptySideKey
    private(set) var bestAskKey = OrderBook.emptySideKey
    /// The id the next trade of this symbol gets.
    var nextTradeID: UInt64
    var minimumQuantity: Quantity
    var maximumQuantity: Quantity
    var status: SymbolStatus
    /// Whether the spec has a positive minimum notional (checked against `specs`).
    var checksNotional: Bool

    init(spec: SymbolSpec, levelCapacity: Int) {
        status = spec.status
        minimumQuantity = spec.minimumQuantity
        maximumQuantity = spec.maximumQuantity
        checksNotional = spec.minimumNotional.isPositive
        bids = []
        asks = []
        bids.reserveCapacity(levelCapacity)
        asks.reserveCapacity(levelCapacity)
        nextTradeID = 1
    }

    /// One side's levels, for cold paths (invariants, snapshots, queries). The hot path uses
    /// `MatchingEngine`'s side helpers, which reach `bids`/`asks` directly: a read through
    /// this subscript copies the book (a retain and release per call).
    subscript(side: OrderSide) -> [LevelKey] { side == .buy ? bids : asks }

    /// The best level key of `side`, or `emptySideKey`.
    @inline(__always)
    func bestKey(_ side: OrderSide) -> Int64 { side == .buy ? bestBidKey : bestAskKey }

    mutating func insertLevel(_ entry: LevelKey, at position: Int, side: OrderSide) {
        if side == .buy {
            bids.insert(entry, at: position)
            bestBidKey = bids[bids.count - 1].key
        } else {
            asks.insert(entry, at: position)
            bestAskKey = asks[asks.count - 1].key
        }
    }

    mutating func removeLevel(at position: Int, side: OrderSide) {
        if side == .buy {
            bids.remove(at: position)
            bestBidKey = bids.last?.key ?? Self.emptySideKey
        } else {
            asks.remove(at: position)
            bestAskKey = asks.last?.key ?? Self.emptySideKey
        }
    }

    /// Empties both sides (their levels are released by the caller).
    mutating func removeAllLevels() {
        bids.removeAll()
        asks.removeAll()
        bestBidKey = Self.emptySideKey
        bestAskKey = Self.emptySideKey
    }

    /// Appends levels worse than every present one (restore builds sides best last).
    mutating func appendLevels(_ entries: some Sequence<LevelKey>, side: OrderSide) {
        if side == .buy {
            bids.append(contentsOf: entries)
            bestBidKey = bids.last?.key ?? Self.emptySideKey
        } else {
            asks.append(contentsOf: entries)
            bestAskKey = asks.last?.key ?? Self.emptySideKey
        }
    }
}

extension Array where Element == LevelKey {
    /// The index of the first element whose key is not below `key` (binary search).
    @inline(__always)
    func insertionIndex(of key: Int64) -> Int {
        var low = 0
        var high = count
        // Most activity is near the best price, at the end: check there first.
        if high > 0, self[high - 1].key < key { return high }
        while low < high {
            let middle = (low + high) >> 1
            if self[middle].key < key { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
