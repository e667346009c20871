/// The gateway's rate limits, as Binance states them: request weight per minute per IP, and
/// orders per 10 seconds and per day per user. Counters live in Redis in fixed windows
/// (`windowStart(of:)`), so every gateway instance counts against the same numbers.
///
/// Pure: the caller passes the time and the counts after the request is added.
public struct RateLimitPolicy: Sendable, Equatable {
    public var requestWeightPerMinute: Int64
    public var ordersPer10Seconds: Int64
    public var ordersPerDay: Int64
    /// After this many refused requests of one IP within a minute, the IP is banned (418).
    public var violationsBeforeBan: Int64
    public var banSeconds: Int64

    public init(
        requestWeightPerMinute: Int64 = 6_000, ordersPer10Seconds: Int64 = 100, ordersPerDay: Int64 = 200_000,
        violationsBeforeBan: Int64 = 20, banSeconds: Int64 = 120
    ) {
        self.requestWeightPerMinute = requestWeightPerMinute
        self.ordersPer10Seconds = ordersPer10Seconds
        self.ordersPerDay = ordersPerDay
        self.violationsBeforeBan = violationsBeforeBan
        self.banSeconds = banSeconds
    }

    /// The windows counters are kept in.
    public enum Window: Sendable, CaseIterable {
        case minute, tenSeconds, day

        public var milliseconds: Int64 {
            switch self {
            case .minute: 60_000
            case .tenSeconds: 10_000
            case .day: 86_400_000
            }
        }

        /// Binance's header suffix (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `-1D`).
        public var headerSuffix: String {
            switch self {
            case .minute: "1M"
            case .tenSeconds: "10S"
            case .day: "1D"
            }
        }
    }

    public static func windowStart(of window: Window, nowMilliseconds: Int64) -> Int64 {
        nowMilliseconds - nowMilliseconds % window.milliseconds
    }

    /// Milliseconds until `window` starts again (what `Retry-After` says, rounded up to seconds).
    public static func retryAfterSeconds(_ window: Window, nowMilliseconds: Int64) -> Int64 {
        let remaining = windowStart(of: window, nowMilliseconds: nowMilliseconds) + window.milliseconds - nowMilliseconds
        return (remaining + 999) / 1_000
    }

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// Over a limit: 429, retry when `window` turns.
        case limited(Window)
        /// Banned: 418.
        case banned
    }

    /// Judges a request from the counts *including* it: `weightThisMinute` of its IP, and for
    /// an order `ordersThis10Seconds` / `ordersToday` of its user; `violations` of its IP in
    /// the current minute; `isBanned` if a ban is in force.
    public func judge(
        weightThisMinute: Int64, ordersThis10Seconds: Int64?, ordersToday: Int64?, isBanned: Bool
    ) -> Verdict {
        if isBanned { return .banned }
        if weightThisMinute > requestWeightPerMinute { return .limited(.minute) }
        if let orders = ordersThis10Seconds, orders > ordersPer10Seconds { return .limited(.tenSeconds) }
        if let orders = ordersToday, orders > ordersPerDay { return .limited(.day) }
        return .allowed
    }
}
