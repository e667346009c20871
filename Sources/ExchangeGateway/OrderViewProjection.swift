import ExchangeAccess
import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMatcher

/// Where the gateway keeps what traders read back (Redis; shared by every gateway instance).
///
/// - `gw:o:{order}` hash: the order's terms and state (see `OrderRecord`);
/// - `gw:uo:{user}` sorted set of the user's order ids by time (ms); `gw:uopen:{user}` set of
///   the open ones; `gw:ucid:{user}` hash client order id → order id;
/// - `gw:ut:{user}` sorted set of the user's trades by time (ms) (`TradeRecord` text);
/// - `gw:bal:{user}` hash `a:{asset}` / `f:{asset}` → available / frozen units;
/// - `gw:cursor` hash output log → last stream id projected;
/// - `gw:ue:{user}` stream of the user's events (`UserEvent`), written only while
///   `gw:uds:{user}` exists (a user data stream is subscribed somewhere), newest
///   `userEventEntries` kept; a traced event also has field `tc` (`userEventTraceField`).
enum GatewayKeys {
    static func order(_ id: OrderID) -> String { "gw:o:\(id)" }
    static func userOrders(_ user: UserID) -> String { "gw:uo:\(user)" }
    static func userOpenOrders(_ user: UserID) -> String { "gw:uopen:\(user)" }
    static func clientOrderIDs(_ user: UserID) -> String { "gw:ucid:\(user)" }
    static func userTrades(_ user: UserID) -> String { "gw:ut:\(user)" }
    static func balances(_ user: UserID) -> String { "gw:bal:\(user)" }
    static let cursor = "gw:cursor"
    static func userEvents(_ user: UserID) -> String { "gw:ue:\(user)" }
    static func userEventsWanted(_ user: UserID) -> String { "gw:uds:\(user)" }
    static let userEventEntries = 1_000
    /// The field of a `gw:ue:{user}` entry holding the `traceparent` its push is traced under
    /// (beside `ev` and the order hash's fields, none of which is named so).
    static let userEventTraceField = "tc"
    static let userEventRetentionSeconds = 3_600
    /// How long `gw:uds:{user}` lives unless renewed by a subscriber.
    static let userEventsWantedSeconds = 120
    static func signature(_ signature: String) -> String { "gw:sig:\(signature.lowercased())" }
    /// Worker id `worker`'s lease: its holder's token, with a TTL (`WorkerLease`).
    static func worker(_ worker: UInt16) -> String { "gw:worker:\(worker)" }
    /// How many times worker id `worker`'s lease was acquired (`WorkerLease`).
    static func workerGeneration(_ worker: UInt16) -> String { "gw:worker-generation:\(worker)" }
    /// The orders worker id `worker`'s holders admitted that still carry the unsettled mark
    /// (`OrderRecord.isUnsettled`): a set of order ids, added to with the mark, removed from
    /// with it (`AbandonedOrderSweeper`).
    static func unsettledOrders(ofWorker worker: UInt16) -> String { "gw:unsettled-orders:\(worker)" }
    static func unsettledOrders(of order: OrderID) -> String { unsettledOrders(ofWorker: SnowflakeGenerator.worker(of: order)) }
    /// How long an ended order's record stays in Redis (history beyond it is PostgreSQL's).
    static let endedOrderRetentionSeconds = 7 * 86_400
    /// The newest orders and trades a user's indexes keep (`allOrders`, `myTrades`: 1,000 a
    /// page at most); older entries are dropped as new ones come.
    static let userIndexEntries = 10_000
}

/// One write of the projection: `command key a b`, applied only if `guardKey` exists (when
/// given). The guard keeps the view to orders placed through a gateway: flow-file orders
/// never get records.
struct ProjectionOperation: Equatable, Sendable {
    enum Command: String, Sendable {
        case hset = "HSET", hdel = "HDEL", hincrby = "HINCRBY", srem = "SREM", zadd = "ZADD", expire = "EXPIRE", zremrangebyrank = "ZREMRANGEBYRANK"
        /// Appends a user event (`key` the user's event stream, `first` the order hash or "",
        /// `second` the `UserEvent` text) followed by the hash's fields.
        case userEvent = "UEVENT"
        /// Appends the user's balances of the comma-separated assets `second` from hash `first`.
        case userBalances = "UBAL"
    }
    var guardKey: String
    var command: Command
    var key: String
    var first: String
    var second: String
    /// For user events: the `traceparent` of the stage that caused it ("" for none), stored
    /// with the event (`GatewayKeys.userEventTraceField`) so its push is traced under that stage.
    var trace = ""

    var arguments: [String] { [guardKey, command.rawValue, key, first, second, trace] }
}

/// A trade of one user as `myTrades` and the FULL response show it: integers, formatted at
/// the edge with the listing's scales. Stored as `|`-separated text.
struct TradeRecord: Equatable, Sendable {
    var symbol: String
    var tradeID: UInt64
    var orderID: OrderID
    var priceTicks: Int64
    var quantityLots: Int64
    /// Quote units moved (price × quantity).
    var quoteUnits: Int64
    /// Fee in units of `commissionAsset` (what this side received).
    var commissionUnits: Int64
    var commissionAsset: String
    var isBuyer: Bool
    var isMaker: Bool
    var timeMilliseconds: Int64

    var text: String {
        [symbol, String(tradeID), String(orderID), String(priceTicks), String(quantityLots), String(quoteUnits), String(commissionUnits),
         commissionAsset, isBuyer ? "1" : "0", isMaker ? "1" : "0", String(timeMilliseconds)].joined(separator: "|")
    }

    init(symbol: String, tradeID: UInt64, orderID: OrderID, priceTicks: Int64, quantityLots: Int64, quoteUnits: Int64,
         commissionUnits: Int64, commissionAsset: String, isBuyer: Bool, isMaker: Bool, timeMilliseconds: Int64) {
        self.symbol = symbol
        self.tradeID = tradeID
        self.orderID = orderID
        self.priceTicks = priceTicks
        self.quantityLots = quantityLots
        self.quoteUnits = quoteUnits
        self.commissionUnits = commissionUnits
        self.commissionAsset = commissionAsset
        self.isBuyer = isBuyer
        self.isMaker = isMaker
        self.timeMilliseconds = timeMilliseconds
    }

    init?(text: String) {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 11, let tradeID = UInt64(parts[1]), let orderID = UInt64(parts[2]), let price = Int64(parts[3]),
              let lots = Int64(parts[4]), let quote = Int64(parts[5]), let commission = Int64(parts[6]), let time = Int64(parts[10]) else {
            return nil
        }
        self.init(symbol: String(parts[0]), tradeID: tradeID, orderID: orderID, priceTicks: price, quantityLots: lots, quoteUnits: quote,
                  commissionUnits: commission, commissionAsset: String(parts[7]), isBuyer: parts[8] == "1", isMaker: parts[9] == "1",
                  timeMilliseconds: time)
    }
}

/// What one output entry did to orders, for the requests waiting on them.
struct OrderNotice: Equatable, Sendable {
    /// The order's outcome within this entry is complete (it was matched as a taker, rested,
    /// ended, or was refused), or a cancel of it was answered.
    var orderID: OrderID
    var status: String?
    /// Why it was refused, when it was.
    var rejection: BinanceError?
    /// The fills of this order in this entry (as taker or maker).
    var fills: [TradeRecord] = []
    /// A cancel of this order was refused.
    var cancelRefused = false
    /// What to answer the cancel with, when not the usual -2011 (a retryable refusal).
    var cancelRefusal: BinanceError?
    /// The matcher ended the order (filled, canceled, expired or refused it): clearing
    /// releases what is still frozen for it when it hears so.
    var endedInShard = false
}

/// The pure part of the projection: which writes and notices one decoded output entry makes.
enum OrderViewProjection {
    /// Binance's status name of an order `remaining` lots short of filled.
    static func tradedStatus(remaining: Quantity) -> String { remaining.lots == 0 ? "FILLED" : "PARTIALLY_FILLED" }

    /// The writes and notices of one shard output entry. `symbol` names the shard's local
    /// symbol ids; `listing` gives fees and units per symbol name; unknown symbols are skipped.
    /// `traceOf` gives the `traceparent` an order's events carry (the entry's traces).
    static func shardEntry(
        _ outcomes: [CommandOutcome], timeMilliseconds: Int64, symbol: (SymbolID) -> String?, clearingSymbol: (String) -> ClearingSymbol?,
        traceOf: (OrderID) -> String? = { _ in nil }
    ) -> (operations: [ProjectionOperation], notices: [OrderNotice]) {
        var operations: [ProjectionOperation] = []
        var notices: [OrderID: OrderNotice] = [:]
        var order: [OrderID] = []
        func notice(_ id: OrderID, _ change: (inout OrderNotice) -> Void) {
            if notices[id] == nil {
                notices[id] = OrderNotice(orderID: id)
                order.append(id)
            }
            change(&notices[id]!)
        }
        func set(_ id: OrderID, _ field: String, _ value: String) {
            operations.append(.init(guardKey: GatewayKeys.order(id), command: .hset, key: GatewayKeys.order(id), first: field, second: value))
        }

        func publish(_ event: UserEvent, user: UserID) {
            guard case .execution(_, let orderID, _) = event.kind else { return }
            operations.append(.init(
                guardKey: GatewayKeys.userEventsWanted(user), command: .userEvent, key: GatewayKeys.userEvents(user),
                first: GatewayKeys.order(orderID), second: event.text, trace: traceOf(orderID) ?? ""))
        }
        func end(_ id: OrderID, user: UserID, status: String, execution: String? = nil) {
            set(id, "st", status)
            set(id, "ut", String(timeMilliseconds))
            operations.append(.init(guardKey: GatewayKeys.order(id), command: .srem, key: GatewayKeys.userOpenOrders(user), first: String(id), second: ""))
            operations.append(.init(guardKey: GatewayKeys.order(id), command: .expire, key: GatewayKeys.order(id),
                                    first: String(GatewayKeys.endedOrderRetentionSeconds), second: ""))
            if let execution { publish(UserEvent(execution: execution, orderID: id, timeMilliseconds: timeMilliseconds), user: user) }
            notice(id) {
                $0.status = status
                $0.endedInShard = true
            }
        }
        for case .events(let events) in outcomes {
            for event in events {
                switch event {
                case .accepted(let accepted):
                    publish(UserEvent(execution: "NEW", orderID: accepted.order.orderID, timeMilliseconds: timeMilliseconds), user: accepted.order.userID)
                    notice(accepted.order.orderID) { $0.status = $0.status ?? "NEW" }
                case .traded(let trade):
                    guard let name = symbol(trade.symbolID), let listing = clearingSymbol(name),
                          let quote = listing.quoteUnits(ticks: trade.price.ticks, lots: trade.quantity.lots),
                          let base = listing.baseUnits(lots: trade.quantity.lots) else { continue }
                    for (orderID, userID, isMaker, remaining) in [
                        (trade.makerOrderID, trade.makerUserID, true, trade.makerRemaining),
                        (trade.takerOrderID, trade.takerUserID, false, trade.takerRemaining),
                    ] {
                        let isBuyer = (trade.takerSide == .buy) != isMaker
                        let received = isBuyer ? base : quote
                        let fee = ClearingSymbol.fee(on: received, basisPoints: isMaker ? listing.makerFeeBasisPoints : listing.takerFeeBasisPoints)
                        let record = TradeRecord(
                            symbol: name, tradeID: trade.tradeID, orderID: orderID, priceTicks: trade.price.ticks, quantityLots: trade.quantity.lots,
                            quoteUnits: quote, commissionUnits: fee, commissionAsset: (isBuyer ? listing.base : listing.quote).text,
                            isBuyer: isBuyer, isMaker: isMaker, timeMilliseconds: timeMilliseconds)
                        let key = GatewayKeys.order(orderID)
                        operations.append(.init(guardKey: key, command: .hincrby, key: key, first: "ex", second: String(trade.quantity.lots)))
                        operations.append(.init(guardKey: key, command: .hincrby, key: key, first: "cq", second: String(quote)))
                        operations.append(.init(guardKey: key, command: .zadd, key: GatewayKeys.userTrades(userID),
                                                first: String(timeMilliseconds), second: record.text))
                        operations.append(.init(guardKey: key, command: .zremrangebyrank, key: GatewayKeys.userTrades(userID),
                                                first: "0", second: String(-(GatewayKeys.userIndexEntries + 1))))
                        let status = tradedStatus(remaining: remaining)
                        if remaining.lots == 0 {
                            end(orderID, user: userID, status: status)
                        } else {
                            set(orderID, "st", status)
                            set(orderID, "ut", String(timeMilliseconds))
                            notice(orderID) { $0.status = status }
                        }
                        publish(UserEvent(execution: "TRADE", orderID: orderID, timeMilliseconds: timeMilliseconds, trade: record), user: userID)
                        notice(orderID) { $0.fills.append(record) }
                    }
                case .canceled(let ended):
                    end(ended.orderID, user: ended.userID, status: "CANCELED", execution: "CANCELED")
                case .expired(let ended, let reason):
                    let inMatch = reason == .selfTradeTaker || reason == .selfTradeMaker
                    end(ended.orderID, user: ended.userID, status: inMatch ? "EXPIRED_IN_MATCH" : "EXPIRED", execution: inMatch ? "TRADE_PREVENTION" : "EXPIRED")
                case .rejected(let rejected) where rejected.command == .place && rejected.reason != .duplicateOrderID:
                    end(rejected.orderID, user: rejected.userID, status: "REJECTED")
                    notice(rejected.orderID) { $0.rejection = binanceError(rejected.reason) }
                case .rejected(let rejected) where rejected.command == .cancel:
                    notice(rejected.orderID) {
                        $0.cancelRefused = true
                        if rejected.reason == .symbolMoved { $0.cancelRefusal = .symbolMoving }
                    }
                case .rejected, .amended, .levelChanged, .symbolAdded, .symbolStatusChanged, .symbolFiltersChanged:
                    break
                }
            }
        }
        return (operations, order.map { notices[$0]! })
    }

    /// Removes order `id`'s unsettled mark (`OrderRecord.isUnsettled`), and the order from its
    /// worker id's set of marked orders: clearing answered it (froze its funds, or refused it),
    /// so its placement is in the clearing log.
    static func unsettledMarkRemoval(_ id: OrderID) -> [ProjectionOperation] {
        [.init(guardKey: GatewayKeys.order(id), command: .hdel, key: GatewayKeys.order(id), first: OrderRecord.unsettledField, second: ""),
         .init(guardKey: GatewayKeys.order(id), command: .srem, key: GatewayKeys.unsettledOrders(of: id), first: String(id), second: "")]
    }

    /// The balance writes of one clearing output entry: every entry of a user's available or
    /// frozen account, as an increment; and each order whose funds it froze loses its
    /// unsettled mark (every place clearing accepts is frozen, with `orderFrozenMemo`).
    /// Then, for users with a user data stream, a `balanceUpdate` event per deposit or
    /// withdrawal and one balance event per user (`outboundAccountPosition`) with every asset
    /// the entry moved. `traceOf` gives the `traceparent` of a transaction's cause, if traced:
    /// a user's events carry the first their transactions have.
    static func clearingEntry(
        _ events: [ClearingEvent], timeMilliseconds: Int64, traceOf: (ClearingCause) -> String? = { _ in nil }
    ) -> [ProjectionOperation] {
        var operations: [ProjectionOperation] = []
        var moved: [UserID: [String]] = [:]
        var users: [UserID] = []
        var traces: [UserID: String] = [:]
        func note(_ user: UserID, _ asset: String) {
            if moved[user] == nil { users.append(user) }
            if !(moved[user, default: []].contains(asset)) { moved[user, default: []].append(asset) }
        }
        for case .transaction(let transaction) in events {
            if let orderID = transaction.frozenOrderID { operations += unsettledMarkRemoval(orderID) }
            let trace = traceOf(transaction.cause)
            for entry in transaction.entries {
                switch entry.account {
                case .available(let user):
                    if traces[user] == nil { traces[user] = trace }
                    operations.append(.init(guardKey: "", command: .hincrby, key: GatewayKeys.balances(user), first: "a:\(entry.asset.text)",
                                            second: String(entry.amount)))
                    note(user, entry.asset.text)
                    if transaction.kind == .deposit || transaction.kind == .withdrawalHold || transaction.kind == .withdrawalRelease {
                        let update = UserEvent(balanceUpdateOf: entry.asset.text, amount: entry.amount, timeMilliseconds: timeMilliseconds)
                        operations.append(.init(
                            guardKey: GatewayKeys.userEventsWanted(user), command: .userEvent, key: GatewayKeys.userEvents(user), first: "",
                            second: update.text, trace: trace ?? ""))
                    }
                case .frozen(let user):
                    if traces[user] == nil { traces[user] = trace }
                    operations.append(.init(guardKey: "", command: .hincrby, key: GatewayKeys.balances(user), first: "f:\(entry.asset.text)",
                                            second: String(entry.amount)))
                    note(user, entry.asset.text)
                case .fees, .external, .adjustments, .settlement:
                    break
                }
            }
        }
        for user in users {
            operations.append(.init(
                guardKey: GatewayKeys.userEventsWanted(user), command: .userBalances, key: GatewayKeys.userEvents(user),
                first: GatewayKeys.balances(user), second: moved[user]!.joined(separator: ","), trace: traces[user] ?? ""))
        }
        return operations
    }

    /// The legs (`SettlementBoard.leg`) of the trade settlements, orders' freezes and ended
    /// orders' releases among `events`: one per user whose accounts one moved (keyed by its
    /// memo, `SYMBOL trade ID`, `order ID frozen` or `order ID ended`).
    static func settledLegs(_ events: [ClearingEvent]) -> [String] {
        var legs: [String] = []
        for case .transaction(let transaction) in events where !transaction.memo.isEmpty && hasLeg(transaction.kind) {
            var users: [UserID] = []
            for entry in transaction.entries {
                switch entry.account {
                case .available(let user), .frozen(let user):
                    if !users.contains(user) { users.append(user) }
                case .fees, .external, .adjustments, .settlement:
                    break
                }
            }
            legs += users.map { SettlementBoard.leg(memo: transaction.memo, user: $0) }
        }
        return legs
    }

    /// Whether a named transaction of `kind` is one a request waits for (`settledLegs`).
    static func hasLeg(_ kind: LedgerTransaction.Kind) -> Bool {
        switch kind {
        case .tradeSettlement, .orderFreeze, .orderRelease: true
        case .deposit, .withdrawalHold, .withdrawalComplete, .withdrawalRelease, .adjustment: false
        }
    }

    /// What a trader is told when clearing refuses an order.
    static func binanceError(_ rejection: ClearingRejection) -> BinanceError {
        switch rejection {
        case .insufficientFunds, .budgetTooSmall: .insufficientBalance
        case .belowMinimumNotional: .filterFailure("NOTIONAL")
        case .symbolHalted: .marketClosed
        case .unknownSymbol: .invalidSymbol
        case .duplicateOrder: .duplicateOrder
        case .unknownOrder: .unknownOrderCancel
        case .overflow, .invalidOrder, .invalidAmount, .unknownAsset, .duplicateWithdrawal, .unknownWithdrawal, .alreadyExists, .exceedsFrozen:
            .rejected("Order was rejected: \(rejection).")
        }
    }

    /// What a trader is told when the matcher refuses an order.
    static func binanceError(_ reason: RejectReason) -> BinanceError {
        switch reason {
        case .postOnlyWouldCross: .wouldMatch
        case .symbolHalted: .marketClosed
        case .unknownSymbol: .invalidSymbol
        case .invalidPrice: .filterFailure("PRICE_FILTER")
        case .invalidQuantity, .quantityBelowMinimum, .quantityAboveMaximum: .filterFailure("LOT_SIZE")
        case .notionalBelowMinimum: .filterFailure("NOTIONAL")
        case .duplicateOrderID: .duplicateOrder
        case .symbolMoved: .symbolMoving
        default: .rejected("Order was rejected: \(reason).")
        }
    }
}
