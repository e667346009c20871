import ExchangeCore

/// Probing of the order-id index. These live on the engine, not on `OrderIndex`, so they read
/// keys straight from the order pool without passing the pool array around (which costs a
/// retain and a release per call on the hot path).
extension MatchingEngine {
    /// The pool slot of resting order `orderID`, or `nilSlot`.
    @inline(__always)
    func findSlot(_ orderID: OrderID) -> Slot {
        var position = index.home(of: orderID)
        while true {
            let slot = index.table[position]
            if slot == .nilSlot || orders[Int(slot)].orderID == orderID { return slot }
            position = (position + 1) & index.mask
        }
    }

    /// Adds `slot` under `orderID`. - Precondition: `orderID` is not in the index.
    @inline(__always)
    mutating func indexInsert(_ orderID: OrderID, slot: Slot) {
        var position = index.home(of: orderID)
        while index.table[position] != .nilSlot { position = (position + 1) & index.mask }
        index.table[position] = slot
    }

    /// Removes `orderID`, which must be in the index, shifting later entries of its probe run
    /// back so no tombstone is left. Reads keys from the pool: call before freeing the slot.
    mutating func indexRemove(_ orderID: OrderID) {
        let mask = index.mask
        var hole = index.home(of: orderID)
        while orders[Int(index.table[hole])].orderID != orderID { hole = (hole + 1) & mask }
        var probe = hole
        while true {
            probe = (probe + 1) & mask
            let slot = index.table[probe]
            if slot == .nilSlot { break }
            let wanted = index.home(of: orders[Int(slot)].orderID)
            // Move the entry into the hole unless its home lies cyclically in (hole, probe].
            if (hole - wanted) & mask < (probe - wanted) & mask {
                index.table[hole] = slot
                hole = probe
            }
        }
        index.table[hole] = .nilSlot
    }
}
