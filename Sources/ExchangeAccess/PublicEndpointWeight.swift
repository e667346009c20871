/// Binance's request weight of the public (unsigned) endpoints, counted against the caller's
/// address like the signed ones (which weigh themselves where they are verified). Nil for a
/// path that is not one of them.
public enum PublicEndpointWeight {
    /// The weight of `GET path` with query `parameter`s.
    public static func weight(path: String, parameter: (String) -> String?) -> Int64? {
        switch path {
        case "/api/v3/ping", "/api/v3/time": return 1
        case "/api/v3/exchangeInfo": return 20
        case "/api/v3/depth":
            let limit = parameter("limit").flatMap { Int($0) } ?? 100
            return limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1_000 ? 50 : 250
        case "/api/v3/trades", "/api/v3/historicalTrades": return 25
        case "/api/v3/aggTrades": return 4
        case "/api/v3/klines", "/api/v3/uiKlines": return 2
        case "/api/v3/ticker/24hr":
            if parameter("symbol") != nil { return 2 }
            guard let list = parameter("symbols") else { return 80 }
            let count = list.split(separator: ",").count
            return count <= 20 ? 2 : count <= 100 ? 40 : 80
        case "/api/v3/ticker/price", "/api/v3/ticker/bookTicker":
            return parameter("symbol") != nil ? 2 : 4
        default: return nil
        }
    }
}
