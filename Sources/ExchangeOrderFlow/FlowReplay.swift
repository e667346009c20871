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

/// What one replay of an order flow produced: its output, collected, and the engine after.
public struct FlowReplayResult {
    public var flow: OrderFlow
    public var collector: FlowOutputCollector
    public var engine: MatchingEngine
    /// Engine commands applied, `addSymbol` excluded.
    public var appliedCommandCount: Int
}

/// How fast an engine applied a flow's commands (`FlowReplay.timeApply`).
public struct FlowApplyTiming: Sendable {
    /// Wall time of the apply loop alone, in seconds.
    public var applySeconds: Double
    /// Engine commands applied, `addSymbol` excluded.
    public var appliedCommandCount: Int
    /// The engine's digest afterwards: equal to the output run's, since the engine is deterministic.
    public var stateDigest: UInt64
}

/// Applies an `OrderFlow` to a fresh engine and renders the order-flow output format.
public enum FlowReplay {
    /// Commands whose events are collected at once; small enough for the events to stay in cache.
    public static let batchCommands = 128

    /// The largest resting-order capacity a replay reserves (the engine sizes its pools and
    /// index from it up front: about 90 bytes per order of reserved address space).
    public static let maximumRestingOrders = 1 << 23

    /// Limits large enough for any flow of `flow`'s size (up to `maximumRestingOrders`).
    public static func limits(for flow: OrderFlow) -> MatchingEngine.Limits {
        let orders = min(maximumRestingOrders, max(1_024, flow.entries.count))
        return MatchingEngine.Limits(
            maximumSymbols: max(1, flow.symbols.count), maximumRestingOrders: orders, maximumPriceLevels: orders)
    }

    /// The flow's engine commands, in order.
    static func commands(of flow: OrderFlow) -> [MatchingCommand] {
        var commands: [MatchingCommand] = []
        commands.reserveCapacity(flow.entries.count)
        for case .command(let command) in flow.entries { commands.append(command) }
        return commands
    }

    /// Applies every command of `flow` in order and collects the output, `batchCommands`
    /// commands' events at a time.
    public static func run(_ flow: OrderFlow, limits: MatchingEngine.Limits? = nil) -> FlowReplayResult {
        var engine = MatchingEngine(limits: limits ?? Self.limits(for: flow))
        var collector = FlowOutputCollector(flow: flow)
        let commands = commands(of: flow)
        var events: [MatchingEvent] = []
        events.reserveCapacity(batchCommands * 8)
        var batchStart = 0
        while batchStart < commands.count {
            let batchEnd = min(batchStart + batchCommands, commands.count)
            for position in batchStart..<batchEnd {
                engine.apply(commands[position], into: &events)
            }
            collector.record(events)
            events.removeAll(keepingCapacity: true)
            batchStart = batchEnd
        }
        return FlowReplayResult(
            flow: flow, collector: collector, engine: engine, appliedCommandCount: commands.count - flow.symbols.count)
    }

    /// Times a fresh engine applying every command of `flow`, with nothing else in the loop:
    /// each command's events are dropped at once, as a replica hands them to its output
    /// writer. (Collecting the output in the same loop would time the collector's cache
    /// misses too: about 5M commands/s instead of 6.5M on a 2M-command flow here.)
    /// `clock` returns monotonic nanoseconds and is read before and after the loop only.
    public static func timeApply(_ flow: OrderFlow, limits: MatchingEngine.Limits? = nil, clock: () -> UInt64) -> FlowApplyTiming {
        var engine = MatchingEngine(limits: limits ?? Self.limits(for: flow))
        let commands = commands(of: flow)
        var events: [MatchingEvent] = []
        events.reserveCapacity(1_024)
        let start = clock()
        // Batches of 16 let the engine prefetch ahead (`apply(batch:into:)`), as a replica's reads do.
        var position = 0
        while position < commands.count {
            let end = min(position + 16, commands.count)
            engine.apply(batch: commands[position..<end], into: &events)
            events.removeAll(keepingCapacity: true)
            position = end
        }
        let end = clock()
        return FlowApplyTiming(
            applySeconds: Double(end - start) / 1e9, appliedCommandCount: commands.count - flow.symbols.count,
            stateDigest: engine.stateDigest)
    }

    /// The order-flow output: trades, then every order by ascending id, then the books.
    public static func output(of result: FlowReplayResult) -> String {
        result.collector.render { symbolID, side in
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
        var collector = FlowOutputCollector(flow: flow)
        collector.record(events)
        return collector.render(restingOrders: restingOrders)
    }
}

/// Folds matching events into what the order-flow output needs: the trades in order and
/// each order's final status and executed quantity. Feed it every event of a replay, in
/// order, in as many pieces as convenient.
public struct FlowOutputCollector {
    struct Trade {
        var symbolID: SymbolID
        var takerOrderID: OrderID
        var makerOrderID: OrderID
        var price: Price
        var quantity: Quantity
    }

    struct Outcome {
        var symbolID: SymbolID?
        var status: FlowOrderStatus
        var executedLots: Int64
    }

    let specs: [SymbolSpec]
    private var trades: [Trade] = []
    private var outcomes: [OrderID: Outcome] = [:]

    /// Starts with the flow's edge rejections, which no engine sees.
    public init(flow: OrderFlow) {
        specs = flow.symbols
        for case .rejectedPlace(let orderID, _) in flow.entries {
            outcomes[orderID] = Outcome(symbolID: nil, status: .rejected, executedLots: 0)
        }
    }

    /// How many trades were recorded.
    public var tradeCount: Int { trades.count }

    public mutating func record(_ events: [MatchingEvent]) {
        for event in events {
            switch event {
            case .accepted(let accepted):
                outcomes[accepted.order.orderID] = Outcome(symbolID: accepted.order.symbolID, status: .new, executedLots: 0)
            case .rejected(let rejected) where rejected.command == .place:
                outcomes[rejected.orderID] = Outcome(symbolID: nil, status: .rejected, executedLots: 0)
            case .traded(let trade):
                trades.append(Trade(
                    symbolID: trade.symbolID, takerOrderID: trade.takerOrderID, makerOrderID: trade.makerOrderID,
                    price: trade.price, quantity: trade.quantity))
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
    }

    /// The output text; `restingOrders` gives each book side's final orders best first.
    public func render(restingOrders: (SymbolID, OrderSide) -> [(OrderID, Price, Quantity)]) -> String {
        var text = ""
        text.reserveCapacity((trades.count + outcomes.count) * 40)
        for (number, trade) in trades.enumerated() {
            let spec = specs[Int(trade.symbolID.rawValue)]
            text += "trade,\(number + 1),\(spec.name),\(trade.takerOrderID),\(trade.makerOrderID),"
            text += "\(spec.decimal(trade.price)),\(spec.decimal(trade.quantity))\n"
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
