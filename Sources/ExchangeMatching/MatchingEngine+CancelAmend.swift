import ExchangeCore

extension MatchingEngine {
    /// The slot of the resting order a cancel or amend names; when there is none it may
    /// apply to, appends the rejection and returns `nil`.
    private func ownedSlot(
        _ orderID: OrderID, userID: UserID, symbolID: SymbolID, command: CommandKind, into events: inout [MatchingEvent]
    ) -> Slot? {
        func rejected(_ reason: RejectReason) -> Slot? {
            events.append(.rejected(CommandRejected(command: command, orderID: orderID, userID: userID, symbolID: symbolID, reason: reason)))
            return nil
        }
        guard Int(symbolID.rawValue) < books.count else { return rejected(.unknownSymbol) }
        // A tombstone's orders are gone, or on their way in or out with a move (still indexed).
        guard !movedAway[Int(symbolID.rawValue)] else { return rejected(.symbolMoved) }
        let slot = findSlot(orderID)
        guard slot != .nilSlot else { return rejected(.unknownOrder) }
        let order = orders[Int(slot)]
        guard order.userID == userID, levels[Int(order.level)].bookSide >> 1 == symbolID.rawValue else {
            return rejected(.notOrderOwner)
        }
        return slot
    }

    /// Removes a resting order of the named user and symbol; anything else is rejected.
    mutating func cancel(_ cancel: CancelOrder, into events: inout [MatchingEvent]) {
        guard let slot = ownedSlot(cancel.orderID, userID: cancel.userID, symbolID: cancel.symbolID, command: .cancel, into: &events) else {
            return
        }
        let order = orders[Int(slot)]
        let levelSlot = order.level
        let level = levels[Int(levelSlot)]
        let side = level.side
        events.append(.canceled(OrderEnded(
            orderID: order.orderID, userID: order.userID, symbolID: cancel.symbolID, side: side,
            price: Price(ticks: level.price), remaining: Quantity(lots: order.remaining))))
        removeFromLevel(slot)
        let total = levels[Int(levelSlot)].totalQuantity
        events.append(.levelChanged(LevelChanged(
            symbolID: cancel.symbolID, side: side, price: Price(ticks: level.price), totalQuantity: Quantity(lots: total))))
        if levels[Int(levelSlot)].orderCount == 0 {
            removeLevel(levelSlot, side: side, bookIndex: Int(cancel.symbolID.rawValue))
        }
    }

    /// Lowers a resting order's quantity in place, keeping its time priority.
    ///
    /// Applies when `newQuantity` is below the current original quantity and above the
    /// executed quantity; anything else is rejected (`invalidAmendQuantity`).
    mutating func amend(_ amend: AmendOrder, into events: inout [MatchingEvent]) {
        guard let slot = ownedSlot(amend.orderID, userID: amend.userID, symbolID: amend.symbolID, command: .amend, into: &events) else {
            return
        }
        let order = orders[Int(slot)]
        let executed = order.quantity - order.remaining
        let newQuantity = amend.newQuantity.lots
        guard newQuantity < order.quantity, newQuantity > executed else {
            events.append(.rejected(CommandRejected(
                command: .amend, orderID: amend.orderID, userID: amend.userID, symbolID: amend.symbolID,
                reason: .invalidAmendQuantity)))
            return
        }
        let newRemaining = newQuantity - executed
        let released = order.remaining - newRemaining
        orders[Int(slot)].quantity = newQuantity
        orders[Int(slot)].remaining = newRemaining
        levels[Int(order.level)].totalQuantity -= released
        let level = levels[Int(order.level)]
        let side = level.side
        events.append(.amended(OrderAmended(
            orderID: order.orderID, userID: order.userID, symbolID: amend.symbolID, side: side,
            price: Price(ticks: level.price), newQuantity: amend.newQuantity,
            remaining: Quantity(lots: newRemaining), released: Quantity(lots: released))))
        events.append(.levelChanged(LevelChanged(
            symbolID: amend.symbolID, side: side, price: Price(ticks: level.price),
            totalQuantity: Quantity(lots: level.totalQuantity))))
    }

    /// Takes an emptied level out of its side's sorted array and frees it.
    private mutating func removeLevel(_ levelSlot: Slot, side: OrderSide, bookIndex: Int) {
        let key = side.key(of: levels[Int(levelSlot)].price)
        let (position, existing) = levelPosition(of: key, side: side, bookIndex: bookIndex)
        precondition(existing == levelSlot, "level missing from its side")
        books[bookIndex].removeLevel(at: position, side: side)
        releaseLevel(levelSlot)
    }
}
