import ExchangeCore

/// Finds a resting order's pool slot by its id in O(1): open addressing with linear
/// probing over slot numbers, keys read from the order pool.
///
/// Invariants: `capacity` is a power of two at least twice the largest number of resting
/// orders, so the load factor stays at or below one half; deletion shifts entries back
/// (no tombstones), so lookups never slow down with churn. Fixed size: it never allocates
/// after `init`.
struct OrderIndex {
    private var table: [Slot]
    private let mask: Int
    private let shift: UInt64

    /// - Parameter maximumEntries: the most orders that can rest at once.
    init(maximumEntries: Int) {
        var capacity = 16
        while capacity < maximumEntries * 2 { capacity <<= 1 }
        table = Array(repeating: .nilSlot, count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    var capacity: Int { table.count }

    /// Fibonacci hashing: sequential ids spread evenly.
    @inline(__always)
    private func home(of orderID: OrderID) -> Int {
        Int(truncatingIfNeeded: (orderID &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot of `orderID`, or `nilSlot`.
    @inline(__always)
    func find(_ orderID: OrderID, in orders: [RestingOrder]) -> Slot {
        var position = home(of: orderID)
        while true {
            let slot = table[position]
            if slot == .nilSlot || orders[Int(slot)].orderID == orderID { return slot }
            position = (position + 1) & mask
        }
    }

    /// Adds `slot` under `orderID`. - Precondition: `orderID` is not present.
    @inline(__always)
    mutating func insert(_ orderID: OrderID, slot: Slot) {
        var position = home(of: orderID)
        while table[position] != .nilSlot { position = (position + 1) & mask }
        table[position] = slot
    }

    /// Removes `orderID`, which must be present; reads keys of later entries from `orders`.
    mutating func remove(_ orderID: OrderID, in orders: [RestingOrder]) {
        var hole = home(of: orderID)
        while orders[Int(table[hole])].orderID != orderID { hole = (hole + 1) & mask }
        var probe = hole
        while true {
            probe = (probe + 1) & mask
            let slot = table[probe]
            if slot == .nilSlot { break }
            let wanted = home(of: orders[Int(slot)].orderID)
            // Move the entry back into the hole unless its home lies cyclically in (hole, probe].
            let distanceToProbe = (probe - wanted) & mask
            let distanceToHole = (hole - wanted) & mask
            if distanceToHole < distanceToProbe {
                table[hole] = slot
                hole = probe
            }
        }
        table[hole] = .nilSlot
    }

    /// Number of occupied entries (for invariant checks; O(capacity)).
    var occupiedCount: Int { table.reduce(0) { $0 + ($1 == .nilSlot ? 0 : 1) } }

    /// Bytes held by the table.
    var footprintBytes: Int { table.capacity * MemoryLayout<Slot>.stride }
}
