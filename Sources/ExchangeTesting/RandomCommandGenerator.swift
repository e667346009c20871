import ExchangeCore
import ExchangeOrderFlow

/// Adversarial random commands for differential and simulation tests: few users (many
/// self-trades), narrow prices (many crosses), every order type, TIF and STP mode, cancels
/// and amends of random, resting, foreign and unknown ids, invalid shapes and reused ids.
///
/// Reproducible from `seed`: print it when a test fails.
public struct RandomCommandGenerator {
    public private(set) var random: SeededRandom
    public let symbols: [SymbolSpec]
    private var nextOrderID: OrderID = 1
    /// Recently placed orders (id, user, symbol), targets for cancels and amends.
    private var recent: [(OrderID, UserID, SymbolID)] = []

    public init(seed: UInt64, symbolCount: Int = 3) {
        random = SeededRandom(seed: seed)
        symbols = SyntheticOrderFlow.symbols(count: symbolCount)
    }

    /// The `addSymbol` commands to apply first.
    public var symbolCommands: [MatchingCommand] { symbols.map { .addSymbol(AddSymbol(spec: $0)) } }

    /// The name of the symbol `command` addresses (for producers that address by name): a
    /// generated symbol's, or one no symbol has for the unknown ids `next()` produces; empty
    /// for `addSymbol`.
    public func symbolName(of command: MatchingCommand) -> String {
        guard let id = command.symbolID else { return "" }
        return Int(id.rawValue) < symbols.count ? symbols[Int(id.rawValue)].name : "UNKNOWN\(id.rawValue)"
    }

    public mutating func next() -> MatchingCommand {
        let roll = random.next() % 100
        if roll < 18, !recent.isEmpty {
            let (orderID, userID, symbolID) = recent[Int(random.next() % UInt64(recent.count))]
            let wrongUser = random.chance(0.1)
            return .cancel(CancelOrder(orderID: orderID, userID: wrongUser ? userID + 1 : userID, symbolID: symbolID))
        }
        if roll < 28, !recent.isEmpty {
            let (orderID, userID, symbolID) = recent[Int(random.next() % UInt64(recent.count))]
            return .amend(AmendOrder(orderID: orderID, userID: userID, symbolID: symbolID, newQuantity: Quantity(lots: Int64(random.next() % 12))))
        }
        if roll == 30 {
            // Rare halts and resumes, so both engines see places refused on halted symbols.
            let status: SymbolStatus = random.chance(0.25) ? (random.chance(0.5) ? .halted : .break) : .trading
            return .setSymbolStatus(SetSymbolStatus(symbolID: SymbolID(UInt32(random.next() % UInt64(symbols.count + 1))), status: status))
        }
        if roll == 31 {
            // Rare filter changes, some invalid (minimum above maximum), so both engines refuse and apply alike.
            let minimum = Int64(random.next() % 4)
            return .setSymbolFilters(SetSymbolFilters(
                symbolID: SymbolID(UInt32(random.next() % UInt64(symbols.count + 1))), minimumQuantity: Quantity(lots: minimum),
                maximumQuantity: Quantity(lots: Int64(random.next() % 15)), minimumNotional: DecimalNumber(units: Int64(random.next() % 3), scale: 0)))
        }
        if roll < 30 {
            return .cancel(CancelOrder(orderID: random.next() % (nextOrderID + 5), userID: 1, symbolID: SymbolID(UInt32(random.next() % UInt64(symbols.count + 1)))))
        }
        let symbolID = SymbolID(UInt32(random.next() % UInt64(symbols.count)))
        let userID = 1 + random.next() % 4
        var orderID = nextOrderID
        if random.chance(0.02), !recent.isEmpty { orderID = recent[Int(random.next() % UInt64(recent.count))].0 } else { nextOrderID += 1 }
        let type: OrderType = random.chance(0.1) ? .market : .limit
        let timeInForce = TimeInForce.allCases[Int(random.next() % 4)]
        let price = type == .market && !random.chance(0.05) ? Price.absent : Price(ticks: 95 + Int64(random.next() % 11) - (random.chance(0.02) ? 200 : 0))
        let quantity = Quantity(lots: Int64(random.next() % 10) + (random.chance(0.03) ? -5 : 1))
        let place = PlaceOrder(
            orderID: orderID, userID: userID, symbolID: symbolID, side: random.chance(0.5) ? .buy : .sell,
            type: type, timeInForce: type == .market && random.chance(0.9) ? .immediateOrCancel : timeInForce,
            price: price, quantity: quantity,
            selfTradePrevention: SelfTradePrevention.allCases[Int(random.next() % 4)],
            // Half the market orders carry a budget, often one that binds (notionals run to ~1,000).
            quoteBudget: type == .market && random.chance(0.5) ? Int64(random.next() % 2_000) : 0)
        recent.append((orderID, userID, symbolID))
        if recent.count > 64 { recent.removeFirst() }
        return .place(place)
    }
}
