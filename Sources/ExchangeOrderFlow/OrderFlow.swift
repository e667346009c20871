import ExchangeCore

/// One entry of a parsed order-flow file, in file order.
public enum FlowEntry: Hashable, Sendable {
    /// A command for the matching engine.
    case command(MatchingCommand)
    /// A `place` the flow rules reject before any engine sees it: a word that is not a
    /// side/type/tif/stp, an unknown symbol, a price or quantity that is not a positive
    /// multiple of the symbol's increments. Its id still counts as used.
    case rejectedPlace(orderID: OrderID, reason: RejectReason)
}

/// A parsed order-flow file (`order-flow.md`): its markets and its entries in order.
///
/// Symbol ids are dense in declaration order, so they equal the ids a fresh engine assigns
/// when it applies the `addSymbol` commands in `entries`.
public struct OrderFlow: Sendable {
    /// Declared markets, by symbol id.
    public var symbols: [SymbolSpec]
    public var entries: [FlowEntry]

    public init(symbols: [SymbolSpec] = [], entries: [FlowEntry] = []) {
        self.symbols = symbols
        self.entries = entries
    }

    /// How many entries are engine commands other than `addSymbol`.
    public var orderCommandCount: Int {
        entries.reduce(0) { count, entry in
            if case .command(let command) = entry, case .addSymbol = command { return count }
            return count + 1
        }
    }
}

/// A malformed order-flow line: the file cannot be replayed.
public struct FlowSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "\(line): \(reason)" }
}
