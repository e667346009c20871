import ExchangeCore

extension MatchingEngine {
    /// Validates, matches and rests or expires a new order. See `order-flow.md` for the rules.
    mutating func place(_ order: PlaceOrder, into events: inout [MatchingEvent]) {
        if let reason = rejection(of: order) {
            events.append(.rejected(CommandRejected(
                command: .place, orderID: order.orderID, userID: order.userID, symbolID: order.symbolID, reason: reason)))
            return
        }
        let bookIndex = Int(order.symbolID.rawValue)
        let opposite = order.side.opposite
        // A taker crosses a level when the level's key (on the opposite side) is at least this.
        let crossingKey = order.type == .market ? Int64.min : opposite.key(of: order.price.ticks)

        if order.timeInForce == .postOnly {
            if let best = books[bookIndex][opposite].last, best.key >= crossingKey {
                events.append(.rejected(CommandRejected(
                    command: .place, orderID: order.orderID, userID: order.userID, symbolID: order.symbolID,
                    reason: .postOnlyWouldCross)))
                return
            }
        }
        events.append(.accepted(OrderAccepted(order: order)))
        if order.timeInForce == .fillOrKill,
           fillableQuantity(of: order, bookIndex: bookIndex, crossingKey: crossingKey) < order.quantity.lots {
            events.append(.expired(ended(order, remaining: order.quantity.lots), .fillOrKillUnfillable))
            return
        }

        let (remaining, takerExpiredBySelfTrade) = match(order, bookIndex: bookIndex, crossingKey: crossingKey, into: &events)
        if remaining == 0 { return }
        if takerExpiredBySelfTrade {
            events.append(.expired(ended(order, remaining: remaining), .selfTradeTaker))
        } else if order.timeInForce == .goodTillCanceled || order.timeInForce == .postOnly {
            rest(order, remaining: remaining, bookIndex: bookIndex, into: &events)
        } else {
            events.append(.expired(ended(order, remaining: remaining), .immediateOrCancelRemainder))
        }
    }

    private func ended(_ order: PlaceOrder, remaining: Int64) -> OrderEnded {
        OrderEnded(
            orderID: order.orderID, userID: order.userID, symbolID: order.symbolID, side: order.side,
            price: order.price, remaining: Quantity(lots: remaining))
    }

    /// Why `order` must be refused before it touches any book, or `nil`.
    private func rejection(of order: PlaceOrder) -> RejectReason? {
        guard Int(order.symbolID.rawValue) < books.count else { return .unknownSymbol }
        let spec = books[Int(order.symbolID.rawValue)].spec
        guard spec.status == .trading else { return .symbolHalted }
        switch order.type {
        case .market:
            if order.price != .absent { return .marketOrderWithPrice }
            if order.timeInForce != .immediateOrCancel { return .marketOrderNotImmediateOrCancel }
        case .limit:
            if order.price.ticks <= 0 { return .invalidPrice }
        }
        if order.quantity.lots <= 0 { return .invalidQuantity }
        if order.quantity < spec.minimumQuantity { return .quantityBelowMinimum }
        if order.quantity > spec.maximumQuantity { return .quantityAboveMaximum }
        if order.type == .limit, spec.minimumNotional.isPositive {
            guard let notional = spec.notional(price: order.price, quantity: order.quantity),
                  notional.isAtLeast(spec.minimumNotional) else { return .notionalBelowMinimum }
        }
        if index.find(order.orderID, in: orders) != .nilSlot { return .duplicateOrderID }
        let mayRest = order.timeInForce == .goodTillCanceled || order.timeInForce == .postOnly
        if mayRest {
            if restingOrderCount >= limits.maximumRestingOrders { return .orderCapacityReached }
            if levelCount >= limits.maximumPriceLevels,
               levelSlot(at: order.side.key(of: order.price.ticks), in: books[Int(order.symbolID.rawValue)][order.side]) == nil {
                return .priceLevelCapacityReached
            }
        }
        return nil
    }

    /// The level slot at `key` in `side`, if that level exists.
    func levelSlot(at key: Int64, in side: [LevelKey]) -> Slot? {
        let position = side.insertionIndex(of: key)
        guard position < side.count, side[position].key == key else { return nil }
        return side[position].level
    }

    /// How much of `order` could trade right now under the crossing and self-trade rules,
    /// stopping as soon as it reaches the order's quantity. Changes nothing.
    private func fillableQuantity(of order: PlaceOrder, bookIndex: Int, crossingKey: Int64) -> Int64 {
        let wanted = order.quantity.lots
        var fillable: Int64 = 0
        let side = books[bookIndex][order.side.opposite]
        for levelKey in side.reversed() {
            guard levelKey.key >= crossingKey else { break }
            var slot = levels[Int(levelKey.level)].head
            while slot != .nilSlot {
                let maker = orders[Int(slot)]
                slot = maker.next
                if maker.userID == order.userID, order.selfTradePrevention != .none {
                    if order.selfTradePrevention == .expireMaker { continue }
                    return fillable
                }
                fillable += maker.remaining
                if fillable >= wanted { return fillable }
            }
        }
        return fillable
    }

    /// Trades `order` against the opposite side while it crosses; returns the open quantity
    /// left and whether self-trade prevention expired the taker.
    private mutating func match(
        _ order: PlaceOrder, bookIndex: Int, crossingKey: Int64, into events: inout [MatchingEvent]
    ) -> (remaining: Int64, takerExpiredBySelfTrade: Bool) {
        var remaining = order.quantity.lots
        let opposite = order.side.opposite
        let expiresMaker = order.selfTradePrevention == .expireMaker || order.selfTradePrevention == .expireBoth
        let expiresTaker = order.selfTradePrevention == .expireTaker || order.selfTradePrevention == .expireBoth
        while remaining > 0, let best = books[bookIndex][opposite].last, best.key >= crossingKey {
            let levelSlot = best.level
            let price = levels[Int(levelSlot)].price
            let totalBefore = levels[Int(levelSlot)].totalQuantity
            var takerExpired = false
            var slot = levels[Int(levelSlot)].head
            while slot != .nilSlot, remaining > 0 {
                let maker = orders[Int(slot)]
                let nextSlot = maker.next
                if maker.userID == order.userID, order.selfTradePrevention != .none {
                    if expiresMaker {
                        events.append(.expired(OrderEnded(
                            orderID: maker.orderID, userID: maker.userID, symbolID: order.symbolID, side: opposite,
                            price: Price(ticks: price), remaining: Quantity(lots: maker.remaining)), .selfTradeMaker))
                        removeFromLevel(slot)
                    }
                    if expiresTaker {
                        takerExpired = true
                        break
                    }
                    slot = nextSlot
                    continue
                }
                let quantity = min(remaining, maker.remaining)
                remaining -= quantity
                let makerRemaining = maker.remaining - quantity
                orders[Int(slot)].remaining = makerRemaining
                levels[Int(levelSlot)].totalQuantity -= quantity
                let tradeID = books[bookIndex].nextTradeID
                books[bookIndex].nextTradeID = tradeID + 1
                events.append(.traded(TradeExecuted(
                    symbolID: order.symbolID, tradeID: tradeID, takerOrderID: order.orderID, makerOrderID: maker.orderID,
                    takerUserID: order.userID, makerUserID: maker.userID, takerSide: order.side,
                    price: Price(ticks: price), quantity: Quantity(lots: quantity),
                    takerRemaining: Quantity(lots: remaining), makerRemaining: Quantity(lots: makerRemaining))))
                if makerRemaining == 0 {
                    removeFromLevel(slot)
                }
                slot = nextSlot
            }
            let total = levels[Int(levelSlot)].totalQuantity
            if total != totalBefore {
                events.append(.levelChanged(LevelChanged(
                    symbolID: order.symbolID, side: opposite, price: Price(ticks: price), totalQuantity: Quantity(lots: total))))
            }
            if levels[Int(levelSlot)].orderCount == 0 {
                books[bookIndex][opposite].removeLast()
                releaseLevel(levelSlot)
            }
            if takerExpired { return (remaining, true) }
        }
        return (remaining, false)
    }

    /// Unlinks the order in `slot` from its level, drops it from the index and frees it.
    /// Leaves an emptied level in place: the caller removes it from its side.
    ///
    /// The level total drops by the order's remaining quantity (zero for a filled order).
    mutating func removeFromLevel(_ slot: Slot) {
        let order = orders[Int(slot)]
        let levelSlot = Int(order.level)
        if order.previous != .nilSlot {
            orders[Int(order.previous)].next = order.next
        } else {
            levels[levelSlot].head = order.next
        }
        if order.next != .nilSlot {
            orders[Int(order.next)].previous = order.previous
        } else {
            levels[levelSlot].tail = order.previous
        }
        levels[levelSlot].orderCount -= 1
        levels[levelSlot].totalQuantity -= order.remaining
        index.remove(order.orderID, in: orders)
        releaseOrder(slot)
    }

    /// Puts `remaining` of `order` at the tail of its price level, creating the level if needed.
    private mutating func rest(_ order: PlaceOrder, remaining: Int64, bookIndex: Int, into events: inout [MatchingEvent]) {
        let key = order.side.key(of: order.price.ticks)
        let position = books[bookIndex][order.side].insertionIndex(of: key)
        let levelSlot: Slot
        if position < books[bookIndex][order.side].count, books[bookIndex][order.side][position].key == key {
            levelSlot = books[bookIndex][order.side][position].level
        } else {
            levelSlot = allocateLevel(PriceLevel(
                price: order.price.ticks, totalQuantity: 0, head: .nilSlot, tail: .nilSlot, orderCount: 0,
                bookSide: UInt32(bookIndex) << 1 | UInt32(order.side.rawValue)))
            books[bookIndex][order.side].insert(LevelKey(key: key, level: levelSlot), at: position)
        }
        let tail = levels[Int(levelSlot)].tail
        let slot = allocateOrder(RestingOrder(
            orderID: order.orderID, userID: order.userID, quantity: order.quantity.lots, remaining: remaining,
            previous: tail, next: .nilSlot, level: levelSlot))
        if tail != .nilSlot {
            orders[Int(tail)].next = slot
        } else {
            levels[Int(levelSlot)].head = slot
        }
        levels[Int(levelSlot)].tail = slot
        levels[Int(levelSlot)].orderCount += 1
        levels[Int(levelSlot)].totalQuantity += remaining
        index.insert(order.orderID, slot: slot)
        events.append(.levelChanged(LevelChanged(
            symbolID: order.symbolID, side: order.side, price: order.price,
            totalQuantity: Quantity(lots: levels[Int(levelSlot)].totalQuantity))))
    }
}
