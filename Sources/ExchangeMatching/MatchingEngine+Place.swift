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
        // A market order crosses every level: the lowest possible key (keys are ±price, price > 0).
        let crossingKey = order.type == .market ? -Int64.max : opposite.key(of: order.price.ticks)

        if order.timeInForce == .postOnly {
            if bestKey(opposite, bookIndex: bookIndex) >= crossingKey {
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
    ///
    /// Decides everything up front, so a refused order leaves no trace: in particular an order
    /// that may rest is refused at full capacity even if it would fill completely, and when
    /// its level's total could overflow (matching never touches the order's own side, so
    /// what is checked here still holds when it rests).
    private func rejection(of order: PlaceOrder) -> RejectReason? {
        guard Int(order.symbolID.rawValue) < books.count else { return .unknownSymbol }
        let bookIndex = Int(order.symbolID.rawValue)
        guard books[bookIndex].status == .trading else { return movedAway[bookIndex] ? .symbolMoved : .symbolHalted }
        switch order.type {
        case .market:
            if order.price != .absent { return .marketOrderWithPrice }
            if order.timeInForce != .immediateOrCancel { return .marketOrderNotImmediateOrCancel }
        case .limit:
            if order.price.ticks <= 0 { return .invalidPrice }
        }
        if order.quantity.lots <= 0 { return .invalidQuantity }
        if order.quantity < books[bookIndex].minimumQuantity { return .quantityBelowMinimum }
        if order.quantity > books[bookIndex].maximumQuantity { return .quantityAboveMaximum }
        // A notional past 128 bits (`nil`) is far above any minimum.
        if order.type == .limit, books[bookIndex].checksNotional,
           let notional = specs[bookIndex].notional(price: order.price, quantity: order.quantity),
           !notional.isAtLeast(specs[bookIndex].minimumNotional) {
            return .notionalBelowMinimum
        }
        if findSlot(order.orderID) != .nilSlot { return .duplicateOrderID }
        let mayRest = order.timeInForce == .goodTillCanceled || order.timeInForce == .postOnly
        if mayRest {
            if restingOrderCount >= limits.maximumRestingOrders { return .orderCapacityReached }
            let existing = levelPosition(of: order.side.key(of: order.price.ticks), side: order.side, bookIndex: bookIndex).existing
            if let existing {
                if levels[Int(existing)].totalQuantity.addingReportingOverflow(order.quantity.lots).overflow {
                    return .levelTotalOverflow
                }
            } else if levelCount >= limits.maximumPriceLevels {
                return .priceLevelCapacityReached
            }
        }
        return nil
    }

    /// How much of `order` could trade right now under the crossing and self-trade rules,
    /// stopping as soon as it reaches the order's quantity. Changes nothing.
    private func fillableQuantity(of order: PlaceOrder, bookIndex: Int, crossingKey: Int64) -> Int64 {
        let wanted = order.quantity.lots
        var fillable: Int64 = 0
        let opposite = order.side.opposite
        var position = opposite == .buy ? books[bookIndex].bids.count : books[bookIndex].asks.count
        while position > 0 {
            position -= 1
            let levelKey = opposite == .buy ? books[bookIndex].bids[position] : books[bookIndex].asks[position]
            guard levelKey.key >= crossingKey else { break }
            var slot = levels[Int(levelKey.level)].head
            while slot != .nilSlot {
                let maker = orders[Int(slot)]
                slot = maker.next
                if maker.userID == order.userID, order.selfTradePrevention != .none {
                    if order.selfTradePrevention == .expireMaker { continue }
                    return fillable
                }
                let (sum, overflow) = fillable.addingReportingOverflow(maker.remaining)
                if overflow || sum >= wanted { return wanted }
                fillable = sum
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
        // What a market buy may still spend (ticks × lots), or nil for no limit.
        var budget = order.effectiveQuoteBudget
        var budgetExhausted = false
        let opposite = order.side.opposite
        let expiresMaker = order.selfTradePrevention == .expireMaker || order.selfTradePrevention == .expireBoth
        let expiresTaker = order.selfTradePrevention == .expireTaker || order.selfTradePrevention == .expireBoth
        while remaining > 0, !budgetExhausted, bestKey(opposite, bookIndex: bookIndex) >= crossingKey {
            let levelSlot = bestLevelSlot(opposite, bookIndex: bookIndex)
            let price = levels[Int(levelSlot)].price
            let totalBefore = levels[Int(levelSlot)].totalQuantity
            var takerExpired = false
            var slot = levels[Int(levelSlot)].head
            while slot != .nilSlot, remaining > 0, !budgetExhausted {
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
                var quantity = min(remaining, maker.remaining)
                if let left = budget {
                    // Once the budget limits a fill it cannot pay for a lot at this price or
                    // any later (worse) one: that fill is the order's last.
                    let affordable = left / price
                    if affordable < quantity {
                        quantity = affordable
                        budgetExhausted = true
                    }
                    budget = left - quantity * price
                    if quantity == 0 { break }
                }
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
                let position = opposite == .buy ? books[bookIndex].bids.count - 1 : books[bookIndex].asks.count - 1
                books[bookIndex].removeLevel(at: position, side: opposite)
                releaseLevel(levelSlot)
            }
            if takerExpired { return (remaining, true) }
        }
        return (remaining, false)
    }

    /// Takes a pool slot for an order and links it at the tail of `levelSlot` (newest in
    /// time priority), adding it to the level's total and to the id index.
    ///
    /// - Precondition: capacity is available and the level total cannot overflow (checked by
    ///   the caller before any change).
    mutating func appendToLevel(orderID: OrderID, userID: UserID, quantity: Int64, remaining: Int64, levelSlot: Slot) {
        let tail = levels[Int(levelSlot)].tail
        let slot = allocateOrder(RestingOrder(
            orderID: orderID, userID: userID, quantity: quantity, remaining: remaining,
            previous: tail, next: .nilSlot, level: levelSlot))
        if tail != .nilSlot {
            orders[Int(tail)].next = slot
        } else {
            levels[Int(levelSlot)].head = slot
        }
        levels[Int(levelSlot)].tail = slot
        levels[Int(levelSlot)].orderCount += 1
        levels[Int(levelSlot)].totalQuantity += remaining
        indexInsert(orderID, slot: slot)
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
        indexRemove(order.orderID)
        releaseOrder(slot)
    }

    /// Puts `remaining` of `order` at the tail of its price level, creating the level if needed.
    private mutating func rest(_ order: PlaceOrder, remaining: Int64, bookIndex: Int, into events: inout [MatchingEvent]) {
        let key = order.side.key(of: order.price.ticks)
        let (position, existing) = levelPosition(of: key, side: order.side, bookIndex: bookIndex)
        let levelSlot: Slot
        if let existing {
            levelSlot = existing
        } else {
            levelSlot = allocateLevel(PriceLevel(
                price: order.price.ticks, totalQuantity: 0, head: .nilSlot, tail: .nilSlot, orderCount: 0,
                bookSide: UInt32(bookIndex) << 1 | UInt32(order.side.rawValue)))
            let entry = LevelKey(key: key, level: levelSlot)
            books[bookIndex].insertLevel(entry, at: position, side: order.side)
        }
        appendToLevel(orderID: order.orderID, userID: order.userID, quantity: order.quantity.lots, remaining: remaining, levelSlot: levelSlot)
        events.append(.levelChanged(LevelChanged(
            symbolID: order.symbolID, side: order.side, price: order.price,
            totalQuantity: Quantity(lots: levels[Int(levelSlot)].totalQuantity))))
    }
}

extension MatchingEngine {
    /// The best key of one side of a book (`OrderBook.emptySideKey` if empty). Reads the stored
    /// property directly: calling a method on `books[i]` copies the book (two retains).
    @inline(__always)
    func bestKey(_ side: OrderSide, bookIndex: Int) -> Int64 {
        side == .buy ? books[bookIndex].bestBidKey : books[bookIndex].bestAskKey
    }

    /// The level slot of the best level of one side of a book. Reaches the stored array
    /// directly (no copy). - Precondition: the side is not empty.
    @inline(__always)
    func bestLevelSlot(_ side: OrderSide, bookIndex: Int) -> Slot {
        side == .buy
            ? books[bookIndex].bids[books[bookIndex].bids.count - 1].level
            : books[bookIndex].asks[books[bookIndex].asks.count - 1].level
    }

    /// Where `key` sits on one side of a book: its sorted position, and the level there if
    /// one already has that key.
    @inline(__always)
    func levelPosition(of key: Int64, side: OrderSide, bookIndex: Int) -> (position: Int, existing: Slot?) {
        if side == .buy {
            let position = books[bookIndex].bids.insertionIndex(of: key)
            let found = position < books[bookIndex].bids.count && books[bookIndex].bids[position].key == key
            return (position, found ? books[bookIndex].bids[position].level : nil)
        } else {
            let position = books[bookIndex].asks.insertionIndex(of: key)
            let found = position < books[bookIndex].asks.count && books[bookIndex].asks[position].key == key
            return (position, found ? books[bookIndex].asks[position].level : nil)
        }
    }
}
