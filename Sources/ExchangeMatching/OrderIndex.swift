import ExchangeCore

/// The table behind the engine's O(1) order-id lookup: open addressing with linear probing
/// over order-pool slot numbers; the keys are read from the pool (see
/// `MatchingEngine+OrderIndex.swift`, which probes it), so an entry costs 4 bytes.
///
/// Invariants: `capacity` is a power of two at least twice the largest number of resting
/// orders, so the load factor stays at or below one half; deletion shifts entries back (no
/// tombstones), so lookups never slow down with churn. Fixed size: it never allocates after
/// `init`.
struct OrderIndex: Sendable {
    var table: [Slot]
    let mask: Int
    private let shift: UInt64

    /// - Parameter maximumEntries: the most orders that can rest at once.
    init(maximumEntries: Int) {
        var capacity = 16
        while capacity < maximumEntries * 2 { capacity <<= 1 }
        table = Array(repeating: .nilSlot, count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    /// Fibonacci hashing: sequential ids spread evenly.
    @inline(__always)
    func home(of orderID: OrderID) -> Int {
        Int(truncatingIfNeeded: (orderID &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Number of occupied entries (for invariant checks; O(capacity)).
    var occupiedCount: Int { table.reduce(0) { $0 + ($1 == .nilSlot ? 0 : 1) } }

    /// Bytes held by the table.
    var footprintBytes: Int { table.capacity * MemoryLayout<Slot>.stride }
}
