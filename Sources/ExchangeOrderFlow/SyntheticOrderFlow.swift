import ExchangeCore
import ExchangeMatching
import Foundation

/// Generates realistic order flow in memory, reproducibly from a seed.
///
/// Symbols are picked by `activity`: Zipf by default, as on real venues where a few pairs
/// carry most of the flow, or uniformly (the worst case for caches). Per symbol a mid price
/// random-walks; most orders are GTC limits a geometric number of
/// ticks behind the mid on their own side, some cross it; the rest are IOC, FOK, post-only
/// and market orders, cancels and amends of orders that really rest (the generator runs its
/// own engine to know), with a cancel rate that rises above `targetRestingOrders` so the
/// books reach a steady size instead of growing without bound.
public struct SyntheticOrderFlow {
    /// How order flow spreads over symbols.
    public enum Activity: Sendable, Hashable {
        /// Every symbol equally likely.
        case uniform
        /// The k-th most active symbol gets a share proportional to 1/k^exponent.
        case zipf(exponent: Double)
    }

    public struct Configuration: Sendable {
        public var symbolCount: Int
        /// Order commands to generate (symbol declarations not counted).
        public var commandCount: Int
        public var seed: UInt64
        public var userCount: UInt64
        /// Resting orders over all symbols around which the books settle.
        public var targetRestingOrders: Int
        public var activity: Activity

        public init(
            symbolCount: Int, commandCount: Int, seed: UInt64 = 1, userCount: UInt64 = 1_000,
            targetRestingOrders: Int = 20_000, activity: Activity = .zipf(exponent: 1)
        ) {
            precondition(symbolCount > 0 && commandCount >= 0 && userCount > 0, "invalid synthetic flow configuration")
            self.symbolCount = symbolCount
            self.commandCount = commandCount
            self.seed = seed
            self.userCount = userCount
            self.targetRestingOrders = targetRestingOrders
            self.activity = activity
        }
    }

    /// The symbol specs a generated flow declares: a few realistic tick/step pairs in rotation.
    public static func symbols(count: Int) -> [SymbolSpec] {
        let shapes: [(String, Int64, Int, Int64, Int)] = [
            ("USDT", 1, 2, 1, 5), ("USDT", 1, 2, 1, 4), ("BTC", 1, 6, 1, 2), ("USDT", 1, 5, 1, 0),
        ]
        return (0..<count).map { index in
            let shape = shapes[index % shapes.count]
            // Names are unique for any count: S + index in base 10 + quote.
            return try! SymbolSpec(
                name: "S\(index)\(shape.0)",
                tickSize: DecimalNumber(units: shape.1, scale: shape.2),
                stepSize: DecimalNumber(units: shape.3, scale: shape.4))
        }
    }

    /// Generates the flow; `progress` is called with the number of commands done so far,
    /// about every 1% (for progress bars).
    public static func generate(_ configuration: Configuration, progress: (Int) -> Void = { _ in }) -> OrderFlow {
        var random = SeededRandom(seed: configuration.seed)
        let specs = symbols(count: configuration.symbolCount)
        var flow = OrderFlow(symbols: specs)
        flow.entries.reserveCapacity(specs.count + configuration.commandCount)
        // Generous limits: this engine must accept everything the measured engine accepts.
        let capacity = configuration.targetRestingOrders * 4 + 1_024
        var engine = MatchingEngine(limits: .init(
            maximumSymbols: specs.count, maximumRestingOrders: capacity, maximumPriceLevels: capacity))
        var events: [MatchingEvent] = []
        events.reserveCapacity(1_024)
        for spec in specs {
            let command = MatchingCommand.addSymbol(AddSymbol(spec: spec))
            flow.entries.append(.command(command))
            engine.apply(command, into: &events)
        }
        // Mid prices in ticks: every symbol starts near 10,000 ticks, a realistic book width.
        var mids = (0..<specs.count).map { _ in Int64(10_000 + Int(random.next() % 1_000)) }
        var live: [(orderID: OrderID, userID: UserID, symbolID: SymbolID)] = []
        live.reserveCapacity(configuration.targetRestingOrders * 2)
        var nextOrderID: OrderID = 1
        let progressStep = max(1, configuration.commandCount / 100)
        // Cumulative activity weights, for picking a symbol by binary search.
        var cumulative: [Double] = []
        if case .zipf(let exponent) = configuration.activity {
            var total = 0.0
            cumulative = (1...specs.count).map { rank in
                total += 1 / pow(Double(rank), exponent)
                return total
            }
            cumulative = cumulative.map { $0 / total }
        }

        for generated in 0..<configuration.commandCount {
            if generated % progressStep == 0 { progress(generated) }
            let symbolIndex = cumulative.isEmpty
                ? Int(random.next() % UInt64(specs.count))
                : cumulative.partitioningIndex(below: Double(random.next() >> 11) * 0x1p-53)
            let symbolID = SymbolID(UInt32(symbolIndex))
            if random.chance(0.05) { mids[symbolIndex] = max(100, mids[symbolIndex] + (random.chance(0.5) ? 1 : -1)) }
            let crowded = engine.restingOrderCount > configuration.targetRestingOrders
            let roll = Double(random.next() >> 11) * 0x1p-53
            let cancelShare = crowded ? 0.55 : 0.15
            var command: MatchingCommand?
            if roll < cancelShare + 0.06, !live.isEmpty {
                // Pick a live order; prune ones that filled meanwhile (a few tries at most).
                for _ in 0..<4 where !live.isEmpty {
                    let position = Int(random.next() % UInt64(live.count))
                    let target = live[position]
                    guard let resting = engine.restingOrder(target.orderID) else {
                        live.swapAt(position, live.count - 1)
                        live.removeLast()
                        continue
                    }
                    let executed = resting.quantity.lots - resting.remaining.lots
                    if roll < cancelShare || resting.quantity.lots - executed < 2 {
                        command = .cancel(CancelOrder(orderID: target.orderID, userID: target.userID, symbolID: target.symbolID))
                        live.swapAt(position, live.count - 1)
                        live.removeLast()
                    } else {
                        let newQuantity = executed + 1 + Int64(random.next() % UInt64(resting.quantity.lots - executed - 1))
                        command = .amend(AmendOrder(orderID: target.orderID, userID: target.userID, symbolID: target.symbolID, newQuantity: Quantity(lots: newQuantity)))
                    }
                    break
                }
            }
            if command == nil {
                let order = randomPlace(
                    orderID: nextOrderID, symbolID: symbolID, mid: mids[symbolIndex],
                    userCount: configuration.userCount, random: &random)
                nextOrderID += 1
                command = .place(order)
            }
            let chosen = command!
            events.removeAll(keepingCapacity: true)
            engine.apply(chosen, into: &events)
            if case .place(let order) = chosen, engine.restingOrder(order.orderID) != nil {
                live.append((order.orderID, order.userID, order.symbolID))
            }
            flow.entries.append(.command(chosen))
        }
        progress(configuration.commandCount)
        return flow
    }

    private static func randomPlace(orderID: OrderID, symbolID: SymbolID, mid: Int64, userCount: UInt64, random: inout SeededRandom) -> PlaceOrder {
        let side: OrderSide = random.chance(0.5) ? .buy : .sell
        // Behind the mid on the order's own side is passive; the other way crosses.
        let passive: Int64 = side == .buy ? -1 : 1
        let kind = Double(random.next() >> 11) * 0x1p-53
        var type = OrderType.limit
        var timeInForce = TimeInForce.goodTillCanceled
        var price: Int64
        switch kind {
        case ..<0.70:
            let aggressive = random.chance(0.12)
            price = aggressive ? mid - passive * (1 + Int64(random.next() % 5)) : mid + passive * (1 + random.geometric(0.12, cap: 400))
        case ..<0.78:
            timeInForce = .postOnly
            price = mid + passive * random.geometric(0.15, cap: 400)
        case ..<0.88:
            timeInForce = .immediateOrCancel
            price = mid - passive * Int64(random.next() % 8)
        case ..<0.92:
            timeInForce = .fillOrKill
            price = mid - passive * Int64(random.next() % 8)
        default:
            type = .market
            timeInForce = .immediateOrCancel
            price = 0
        }
        if type == .limit { price = max(1, price) }
        // Mostly small orders, a few large ones: 1...~1000 lots, log-uniform-ish.
        let lots = Int64(1) << Int64(random.next() % 10) + Int64(random.next() % 8)
        let stpRoll = random.next() % 100
        let stp: SelfTradePrevention = stpRoll < 85 ? .none : stpRoll < 90 ? .expireTaker : stpRoll < 95 ? .expireMaker : .expireBoth
        return PlaceOrder(
            orderID: orderID, userID: 1 + random.next() % userCount, symbolID: symbolID, side: side, type: type,
            timeInForce: timeInForce, price: Price(ticks: price), quantity: Quantity(lots: lots), selfTradePrevention: stp)
    }
}

extension Array where Element == Double {
    /// The first index whose value exceeds `value` (binary search over ascending values),
    /// clamped to the last index.
    func partitioningIndex(below value: Double) -> Int {
        var low = 0
        var high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if self[middle] > value { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
