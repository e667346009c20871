import ExchangeCore
import ExchangeMatching

/// The final status of an order, as the order-flow output names it.
public enum FlowOrderStatus: String, Sendable {
    case new
    case partiallyFilled = "partially_filled"
    case filled
    case canceled
    case expired
    case rejected
}

/// What one replay of an order flow produced: every event in order, and the engine after.
public struct FlowReplayResult {
    public var flow: OrderFlow
    public var events: [MatchingEvent]
    public var engine: MatchingEngine
    /// Wall time of the apply loop only (no parsing, no output), in seconds.
    public var applySeconds: Double
    /// Engine commands applied, `addSymbol` excluded.
    public var appliedCommandCount: Int
}

/// Applies an `OrderFlow` to a fresh engine and renders the order-flow output format.
public enum FlowReplay {
    /// Limits large enough for any flow of `flow`'s size.
    public static func limits(for flow: OrderFlow) -> MatchingEngine.Limits {
        MatchingEngine.Limits(
            maximumSymbols: max(1, flow.symbols.count),
            maximumRestingOrders: max(1_024, flow.entries.count),
            maximumPriceLevels: max(1_024, flow.entries.count))
    }

    /// Applies every command of `flow` in order. `clock` returns a monotonic time in
    /// nanoseconds; it is read only before and after the loop.
    public static func run(_ flow: OrderFlow, limits: MatchingEngine.Limits? = nil, clock: () -> UInt64) -> FlowReplayResult {
        var engine = MatchingEngine(limits: limits ?? Self.limits(for: flow))
        var events: [MatchingEvent] = []
        events.reserveCapacity(flow.entries.count * 4)
        var applied = 0
        let start = clock()
        for entry in flow.entries {
            if case .command(let command) = entry {
                engine.apply(command, into: &events)
                applied += 1
            }
        }
        let end = clock()
        return FlowReplayResult(
            flow: flow, events: events, engine: engine, applySeconds: Double(end - start) / 1e9,
            appliedCommandCount: applied - flow.symbols.count)
    }

    /// The order-flow output: trades, then every order by ascending id, then the books.
    public static func output(of result: FlowReplayResult) -> String {
        output(flow: result.flow, events: result.events) { symbolID, side in
            var orders: [(OrderID, Price, Quantity)] = []
            result.engine.forEachRestingOrder(of: symbolID, side: side) { orders.append(($0.orderID, $0.price, $0.remaining)) }
            return orders
        }
    }

    /// The order-flow output of any engine: its `events` for `flow`, and `restingOrders`
    /// giving each book side's final orders (id, price, remaining) best first.
    public static func output(
        flow: OrderFlow, events: [MatchingEvent],
        restingOrders: (SymbolID, OrderSide) -> [(OrderID, Price, Quantity)]
    ) -> String {
        let specs = flow.symbols
        var text = ""
        text.reserveCapacity(events.count * 24)
        struct Outcome {
            var symbolID: SymbolID?
            var status: FlowOrderStatus
            var executedLots: Int64
        }
        var outcomes: [OrderID: Outcome] = [:]
        for entry in flow.entries {
            if case .rejectedPlace(let orderID, _) = entry {
                outcomes[orderID] = Outcome(symbolID: nil, status: .rejected, executedLots: 0)
            }
        }
        var tradeNumber = 0
        for event in events {
            switch event {
            case .accepted(let accepted):
                outcomes[accepted.order.orderID] = Outcome(symbolID: accepted.order.symbolID, status: .new, executedLots: 0)
            case .rejected(let rejected) where rejected.command == .place:
                outcomes[rejected.orderID] = Outcome(symbolID: nil, status: .rejected, executedLots: 0)
            case .traded(let trade):
                tradeNumber += 1
                let spec = specs[Int(trade.symbolID.rawValue)]
                text += "trade,\(tradeNumber),\(spec.name),\(trade.takerOrderID),\(trade.makerOrderID),"
                text += "\(spec.decimal(trade.price)),\(spec.decimal(trade.quantity))\n"
                outcomes[trade.takerOrderID]?.executedLots += trade.quantity.lots
                outcomes[trade.makerOrderID]?.executedLots += trade.quantity.lots
                outcomes[trade.takerOrderID]?.status = trade.takerRemaining.lots == 0 ? .filled : .partiallyFilled
                outcomes[trade.makerOrderID]?.status = trade.makerRemaining.lots == 0 ? .filled : .partiallyFilled
            case .canceled(let ended):
                outcomes[ended.orderID]?.status = .canceled
            case .expired(let ended, _):
                outcomes[ended.orderID]?.status = .expired
            default:
                break
            }
        }
        for orderID in outcomes.keys.sorted() {
            let outcome = outcomes[orderID]!
            let executed = outcome.symbolID.map { specs[Int($0.rawValue)].decimal(Quantity(lots: outcome.executedLots)) } ?? "0"
            text += "order,\(orderID),\(outcome.status.rawValue),\(executed)\n"
        }
        let byName = specs.indices.sorted { specs[$0].name.utf8.lexicographicallyPrecedes(specs[$1].name.utf8) }
        for symbolIndex in byName {
            let spec = specs[symbolIndex]
            for side in OrderSide.allCases {
                for (orderID, price, remaining) in restingOrders(SymbolID(UInt32(symbolIndex)), side) {
                    text += "book,\(spec.name),\(side == .buy ? "buy" : "sell"),\(orderID),"
                    text += "\(spec.decimal(price)),\(spec.decimal(remaining))\n"
                }
            }
        }
        return text
    }
}
