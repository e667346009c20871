import ExchangeCore

/// What a kill switch halts: the whole exchange, every symbol of one shard, or one symbol.
///
/// A scope's `field` names it in the halt registry (`exchange`, `shard:3`, `symbol:BTCUSDT`);
/// an order on `symbol` held by `shard` is refused while any of `fields(symbol:shard:)` is set.
public enum HaltScope: Hashable, Sendable, CustomStringConvertible {
    case exchange
    case shard(ShardID)
    case symbol(String)

    public var field: String {
        switch self {
        case .exchange: "exchange"
        case .shard(let shard): "shard:\(shard)"
        case .symbol(let symbol): "symbol:\(symbol)"
        }
    }

    public var description: String { field }

    /// The scope named by `field`, if it is one.
    public init?(field: String) {
        if field == "exchange" { self = .exchange; return }
        let parts = field.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "shard":
            guard let shard = ShardID(parts[1]) else { return nil }
            self = .shard(shard)
        case "symbol":
            guard SymbolSpec.isValidName(parts[1]) else { return nil }
            self = .symbol(parts[1])
        default: return nil
        }
    }

    /// Whether this scope halts `symbol`, which `shard` holds.
    public func covers(symbol: String, shard: ShardID) -> Bool {
        switch self {
        case .exchange: true
        case .shard(let halted): halted == shard
        case .symbol(let halted): halted == symbol
        }
    }

    /// The registry fields any of which halts `symbol` on `shard`.
    public static func fields(symbol: String, shard: ShardID) -> [String] {
        [HaltScope.exchange.field, HaltScope.shard(shard).field, HaltScope.symbol(symbol).field]
    }

    /// The status matching and clearing should hold for a symbol whose listing says
    /// `listed` while `halts` are in force: a listing's own HALT or BREAK wins; a trading
    /// listing is halted while any halt covers it.
    public static func effectiveStatus(listed: SymbolStatus, symbol: String, shard: ShardID, halts: some Sequence<HaltScope>) -> SymbolStatus {
        guard listed == .trading else { return listed }
        return halts.contains { $0.covers(symbol: symbol, shard: shard) } ? .halted : .trading
    }
}
