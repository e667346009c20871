import ExchangeCore

/// A deliberately naive matching engine: flat arrays, linear scans, a sort after every
/// insert. It implements the same rules and emits the same events as `MatchingEngine`, so
/// differential tests can compare the two command by command.
///
/// Never use it outside tests: every operation is O(orders).
public struct ReferenceMatchingEngine {
    struct Order {
        var orderID: OrderID
        var userID: UserID
        var side: OrderSide
        var price: Int64
        var quantity: Int64
        var remaining: Int64
        /// Arrival order; amends keep it.
        var sequence: UInt64
    }

    struct Book {
        var spec: SymbolSpec
        var orders: [Order] = []
        var nextTradeID: UInt64 = 1
    }

    let maximumRestingOrders: Int
    var books: [Book] = []
    var nextSequence: UInt64 = 0

    public init(maximumRestingOrders: Int = .max) {
        self.maximumRestingOrders = maximumRestingOrders
    }

    /// Resting orders over all books.
    public var restingOrderCount: Int { books.reduce(0) { $0 + $1.orders.count } }

    /// The resting orders of a symbol and side in priority order, as (id, user, price ticks, quantity, remaining).
    public func restingOrders(of symbolID: SymbolID, side: OrderSide) -> [(OrderID, UserID, Int64, Int64, Int64)] {
        priorityOrder(books[Int(symbolID.rawValue)].orders.filter { $0.side == side })
            .map { ($0.orderID, $0.userID, $0.price, $0.quantity, $0.remaining) }
    }

    private func priorityOrder(_ orders: [Order]) -> [Order] {
        orders.sorted { a, b in
            if a.price != b.price { return a.side == .buy ? a.price > b.price : a.price < b.price }
            return a.sequence < b.sequence
        }
    }

    private func levelTotal(_ book: Book, side: OrderSide, price: Int64) -> Int64 {
        book.orders.filter { $0.side == side && $0.price == price }.reduce(0) { $0 + $1.remaining }
    }

    private func crosses(taker: PlaceOrder, makerPrice: Int64) -> Bool {
        if taker.type == .market { return true }
        return taker.side == .buy ? makerPrice <= taker.price.ticks : makerPrice >= taker.price.ticks
    }

    public mutating func apply(_ command: MatchingCommand) -> [MatchingEvent] {
        var events: [MatchingEvent] = []
        switch command {
        case .addSymbol(let add):
            if books.contains(where: { $0.spec.name == add.spec.name }) {
                events.append(.rejected(CommandRejected(command: .addSymbol, orderID: 0, userID: 0, symbolID: SymbolID(UInt32(books.count)), reason: .duplicateSymbol)))
            } else {
                books.append(Book(spec: add.spec))
                events.append(.symbolAdded(SymbolID(UInt32(books.count - 1))))
            }
        case .setSymbolStatus(let change):
            if Int(change.symbolID.rawValue) < books.count {
                books[Int(change.symbolID.rawValue)].spec.status = change.status
                events.append(.symbolStatusChanged(change.symbolID, change.status))
            } else {
                events.append(.rejected(CommandRejected(command: .setSymbolStatus, orderID: 0, userID: 0, symbolID: change.symbolID, reason: .unknownSymbol)))
            }
        case .setSymbolFilters(let change):
            let index = Int(change.symbolID.rawValue)
            if index >= books.count {
                events.append(.rejected(CommandRejected(command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: change.symbolID, reason: .unknownSymbol)))
            } else if change.minimumQuantity.lots < 1 || change.minimumQuantity > change.maximumQuantity || change.minimumNotional.units < 0 {
                events.append(.rejected(CommandRejected(
                    command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: change.symbolID, reason: .invalidSymbolSpec)))
            } else {
                books[index].spec.minimumQuantity = change.minimumQuantity
                books[index].spec.maximumQuantity = change.maximumQuantity
                books[index].spec.minimumNotional = change.minimumNotional
                events.append(.symbolFiltersChanged(change.symbolID))
            }
        case .place(let order):
            place(order, into: &events)
        case .cancel(let cancel):
            guard let (bookIndex, position) = owned(cancel.orderID, cancel.userID, cancel.symbolID, command: .cancel, into: &events) else { break }
            let order = books[bookIndex].orders.remove(at: position)
            events.append(.canceled(OrderEnded(
                orderID: order.orderID, userID: order.userID, symbolID: cancel.symbolID, side: order.side,
                price: Price(ticks: order.price), remaining: Quantity(lots: order.remaining))))
            events.append(.levelChanged(LevelChanged(
                symbolID: cancel.symbolID, side: order.side, price: Price(ticks: order.price),
                totalQuantity: Quantity(lots: levelTotal(books[bookIndex], side: order.side, price: order.price)))))
        case .amend(let amend):
            guard let (bookIndex, position) = owned(amend.orderID, amend.userID, amend.symbolID, command: .amend, into: &events) else { break }
            var order = books[bookIndex].orders[position]
            let executed = order.quantity - order.remaining
            guard amend.newQuantity.lots < order.quantity, amend.newQuantity.lots > executed else {
                events.append(.rejected(CommandRejected(command: .amend, orderID: amend.orderID, userID: amend.userID, symbolID: amend.symbolID, reason: .invalidAmendQuantity)))
                break
            }
            let released = order.remaining - (amend.newQuantity.lots - executed)
            order.quantity = amend.newQuantity.lots
            order.remaining -= released
            books[bookIndex].orders[position] = order
            events.append(.amended(OrderAmended(
                orderID: order.orderID, userID: order.userID, symbolID: amend.symbolID, side: order.side,
                price: Price(ticks: order.price), newQuantity: amend.newQuantity,
                remaining: Quantity(lots: order.remaining), released: Quantity(lots: released))))
            events.append(.levelChanged(LevelChanged(
                symbolID: amend.symbolID, side: order.side, price: Price(ticks: order.price),
                totalQuantity: Quantity(lots: levelTotal(books[bookIndex], side: order.side, price: order.price)))))
        }
        return events
    }

    private func owned(
        _ orderID: OrderID, _ userID: UserID, _ symbolID: SymbolID, command: CommandKind, into events: inout [MatchingEvent]
    ) -> (Int, Int)? {
        func reject(_ reason: RejectReason) -> (Int, Int)? {
            events.append(.rejected(CommandRejected(command: command, orderID: orderID, userID: userID, symbolID: symbolID, reason: reason)))
            return nil
        }
        guard Int(symbolID.rawValue) < books.count else { return reject(.unknownSymbol) }
        for (bookIndex, book) in books.enumerated() {
            if let position = book.orders.firstIndex(where: { $0.orderID == orderID }) {
                guard bookIndex == Int(symbolID.rawValue), book.orders[position].userID == userID else { return reject(.notOrderOwner) }
                return (bookIndex, position)
            }
        }
        return reject(.unknownOrder)
    }

    private mutating func place(_ order: PlaceOrder, into events: inout [MatchingEvent]) {
        func reject(_ reason: RejectReason) {
            events.append(.rejected(CommandRejected(command: .place, orderID: order.orderID, userID: order.userID, symbolID: order.symbolID, reason: reason)))
        }
        guard Int(order.symbolID.rawValue) < books.count else { return reject(.unknownSymbol) }
        let bookIndex = Int(order.symbolID.rawValue)
        let spec = books[bookIndex].spec
        guard spec.status == .trading else { return reject(.symbolHalted) }
        if order.type == .market {
            if order.price != .absent { return reject(.marketOrderWithPrice) }
            if order.timeInForce != .immediateOrCancel { return reject(.marketOrderNotImmediateOrCancel) }
        } else if order.price.ticks <= 0 {
            return reject(.invalidPrice)
        }
        if order.quantity.lots <= 0 { return reject(.invalidQuantity) }
        if order.quantity < spec.minimumQuantity { return reject(.quantityBelowMinimum) }
        if order.quantity > spec.maximumQuantity { return reject(.quantityAboveMaximum) }
        if order.type == .limit, spec.minimumNotional.isPositive,
           !(spec.notional(price: order.price, quantity: order.quantity)?.isAtLeast(spec.minimumNotional) ?? true) {
            return reject(.notionalBelowMinimum)
        }
        if books.contains(where: { $0.orders.contains { $0.orderID == order.orderID } }) { return reject(.duplicateOrderID) }
        let mayRest = order.timeInForce == .goodTillCanceled || order.timeInForce == .postOnly
        if mayRest, restingOrderCount >= maximumRestingOrders { return reject(.orderCapacityReached) }
        if mayRest, levelTotal(books[bookIndex], side: order.side, price: order.price.ticks)
            .addingReportingOverflow(order.quantity.lots).overflow {
            return reject(.levelTotalOverflow)
        }

        let makers = priorityOrder(books[bookIndex].orders.filter { $0.side == order.side.opposite })
        if order.timeInForce == .postOnly, let best = makers.first, crosses(taker: order, makerPrice: best.price) {
            return reject(.postOnlyWouldCross)
        }
        events.append(.accepted(OrderAccepted(order: order)))
        func ended(_ remaining: Int64) -> OrderEnded {
            OrderEnded(orderID: order.orderID, userID: order.userID, symbolID: order.symbolID, side: order.side, price: order.price, remaining: Quantity(lots: remaining))
        }
        let isSelf = { (maker: Order) in maker.userID == order.userID && order.selfTradePrevention != .none }
        if order.timeInForce == .fillOrKill {
            var fillable: Int64 = 0
            for maker in makers where crosses(taker: order, makerPrice: maker.price) {
                if isSelf(maker) {
                    if order.selfTradePrevention == .expireMaker { continue }
                    break
                }
                let (sum, overflow) = fillable.addingReportingOverflow(maker.remaining)
                fillable = overflow ? .max : sum
            }
            if fillable < order.quantity.lots {
                events.append(.expired(ended(order.quantity.lots), .fillOrKillUnfillable))
                return
            }
        }

        var remaining = order.quantity.lots
        var budget = order.effectiveQuoteBudget
        var takerExpired = false
        var currentPrice: Int64? = nil
        var currentTotalBefore: Int64 = 0
        func closeLevel(_ book: Book) {
            guard let price = currentPrice else { return }
            let total = levelTotal(book, side: order.side.opposite, price: price)
            if total != currentTotalBefore {
                events.append(.levelChanged(LevelChanged(symbolID: order.symbolID, side: order.side.opposite, price: Price(ticks: price), totalQuantity: Quantity(lots: total))))
            }
            currentPrice = nil
        }
        for maker in makers {
            guard remaining > 0, !takerExpired, crosses(taker: order, makerPrice: maker.price) else { break }
            if currentPrice != maker.price {
                closeLevel(books[bookIndex])
                currentPrice = maker.price
                currentTotalBefore = levelTotal(books[bookIndex], side: maker.side, price: maker.price)
            }
            let position = books[bookIndex].orders.firstIndex { $0.orderID == maker.orderID }!
            if isSelf(maker) {
                if order.selfTradePrevention == .expireMaker || order.selfTradePrevention == .expireBoth {
                    events.append(.expired(OrderEnded(orderID: maker.orderID, userID: maker.userID, symbolID: order.symbolID, side: maker.side, price: Price(ticks: maker.price), remaining: Quantity(lots: maker.remaining)), .selfTradeMaker))
                    books[bookIndex].orders.remove(at: position)
                }
                if order.selfTradePrevention == .expireTaker || order.selfTradePrevention == .expireBoth { takerExpired = true }
                continue
            }
            var quantity = min(remaining, maker.remaining)
            var budgetExhausted = false
            if let left = budget {
                if left / maker.price < quantity {
                    quantity = left / maker.price
                    budgetExhausted = true
                }
                budget = left - quantity * maker.price
                if quantity == 0 { break }
            }
            remaining -= quantity
            books[bookIndex].orders[position].remaining -= quantity
            let makerRemaining = books[bookIndex].orders[position].remaining
            let tradeID = books[bookIndex].nextTradeID
            books[bookIndex].nextTradeID += 1
            events.append(.traded(TradeExecuted(
                symbolID: order.symbolID, tradeID: tradeID, takerOrderID: order.orderID, makerOrderID: maker.orderID,
                takerUserID: order.userID, makerUserID: maker.userID, takerSide: order.side, price: Price(ticks: maker.price),
                quantity: Quantity(lots: quantity), takerRemaining: Quantity(lots: remaining), makerRemaining: Quantity(lots: makerRemaining))))
            if makerRemaining == 0 { books[bookIndex].orders.remove(at: position) }
            if budgetExhausted { break }
        }
        closeLevel(books[bookIndex])

        if remaining == 0 { return }
        if takerExpired {
            events.append(.expired(ended(remaining), .selfTradeTaker))
        } else if mayRest {
            books[bookIndex].orders.append(Order(
                orderID: order.orderID, userID: order.userID, side: order.side, price: order.price.ticks,
                quantity: order.quantity.lots, remaining: remaining, sequence: nextSequence))
            nextSequence += 1
            events.append(.levelChanged(LevelChanged(
                symbolID: order.symbolID, side: order.side, price: order.price,
                totalQuantity: Quantity(lots: levelTotal(books[bookIndex], side: order.side, price: order.price.ticks)))))
        } else {
            events.append(.expired(ended(remaining), .immediateOrCancelRemainder))
        }
    }
}
