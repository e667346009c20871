/// A Binance market stream, parsed from its name (`btcusdt@depth@100ms`, `!miniTicker@arr`).
/// Symbols are the upper-case ids; names are lower case on the wire.
public enum MarketStream: Sendable, Hashable {
    case depth(symbol: String, speed: SymbolMarket.DepthSpeed)
    /// The best `levels` (5, 10 or 20) of each side, every `speed`.
    case partialDepth(symbol: String, levels: Int, speed: SymbolMarket.DepthSpeed)
    case trade(symbol: String)
    case aggregateTrade(symbol: String)
    case ticker(symbol: String)
    case miniTicker(symbol: String)
    case bookTicker(symbol: String)
    case kline(symbol: String, interval: KlineInterval)
    case allMiniTickers

    public static let partialDepthLevels: Set<Int> = [5, 10, 20]

    /// Parses a stream name; nil for anything that is not one (an unknown kind, an upper-case
    /// name, a bad interval or depth). The symbol is not checked against the listings.
    public init?(name: String) {
        if name == "!miniTicker@arr" {
            self = .allMiniTickers
            return
        }
        let parts = name.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.count <= 3, !parts[0].isEmpty, parts[0].utf8.count <= 20,
              parts[0].utf8.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        let symbol = parts[0].uppercased()
        let kind = parts[1]
        let speed: SymbolMarket.DepthSpeed
        switch parts.count == 3 ? parts[2] : nil {
        case nil, "1000ms": speed = .slow
        case "100ms": speed = .fast
        default: return nil
        }
        let hasSpeedSuffix = parts.count == 3
        if kind == "depth" {
            self = .depth(symbol: symbol, speed: speed)
            return
        }
        if kind.hasPrefix("depth"), let levels = Int(kind.dropFirst(5)), Self.partialDepthLevels.contains(levels) {
            self = .partialDepth(symbol: symbol, levels: levels, speed: speed)
            return
        }
        guard !hasSpeedSuffix else { return nil }
        switch kind {
        case "trade": self = .trade(symbol: symbol)
        case "aggTrade": self = .aggregateTrade(symbol: symbol)
        case "ticker": self = .ticker(symbol: symbol)
        case "miniTicker": self = .miniTicker(symbol: symbol)
        case "bookTicker": self = .bookTicker(symbol: symbol)
        default:
            guard kind.hasPrefix("kline_"), let interval = KlineInterval(rawValue: String(kind.dropFirst(6))) else { return nil }
            self = .kline(symbol: symbol, interval: interval)
        }
    }

    /// The symbol the stream is about; nil for the all-market streams.
    public var symbol: String? {
        switch self {
        case .depth(let symbol, _), .partialDepth(let symbol, _, _), .trade(let symbol), .aggregateTrade(let symbol), .ticker(let symbol),
             .miniTicker(let symbol), .bookTicker(let symbol), .kline(let symbol, _):
            symbol
        case .allMiniTickers: nil
        }
    }
}
