import ExchangeAccess
import ExchangeCore
import ExchangeRedis
import HTTPTypes
import Hummingbird

/// Request weight per IP per minute (`RateLimitPolicy`), counted in Redis in fixed windows, so
/// every instance of every role serving the public API (gateways, market data) counts an
/// address against the same number. A refused request is a violation of its address;
/// `violationsBeforeBan` of them within a minute ban it for `banSeconds` (418).
///
/// The gateway's signed requests count into the same keys, in its admission script (one round
/// trip with their order limits); `Keys` names them for both.
public struct RequestWeightLimiter: Sendable {
    public let client: RedisClient
    public let policy: RateLimitPolicy

    public init(client: RedisClient, policy: RateLimitPolicy) {
        self.client = client
        self.policy = policy
    }

    /// The Redis keys of an address's counters.
    public enum Keys {
        /// Weight used in the minute starting at `minuteStart` (ms since the epoch).
        public static func weight(ip: String, minuteStart: Int64) -> String { "gw:rl:w:\(ip):\(minuteStart)" }
        public static func ban(ip: String) -> String { "gw:rl:ban:\(ip)" }
        /// Refused requests in the current minute.
        public static func violations(ip: String) -> String { "gw:rl:v:\(ip)" }
    }

    /// How long a minute's weight counter lives (ms): its minute and a second more.
    public static let weightWindowTTLMilliseconds: Int64 = 61_000

    /// KEYS: weight, ban. ARGV: weight, the counter's ttl (ms). Answers {banned, weight so far}.
    static let weightScript = RedisScript(source: """
        local banned = redis.call('EXISTS', KEYS[2])
        local weight = redis.call('INCRBY', KEYS[1], ARGV[1])
        if weight == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return {banned, weight}
        """)

    /// KEYS: violations, ban. ARGV: ban threshold, ban seconds.
    static let violationScript = RedisScript(source: """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
        if count >= tonumber(ARGV[1]) then redis.call('SET', KEYS[2], '1', 'EX', ARGV[2]) end
        return count
        """)

    /// The wall clock in milliseconds since the Unix epoch (the windows' and Binance's time).

    /// Binance's header of the weight used this minute.
    public static func usageHeaders(weightThisMinute: Int64) -> HTTPFields {
        [HTTPField.Name("X-MBX-USED-WEIGHT-1M")!: String(weightThisMinute)]
    }

    /// Counts a request of `weight` from `ip`; returns the minute's weight including it, or
    /// throws 418 (banned) or 429 (over the limit, counted as a violation) with `Retry-After`.
    public func admit(ip: String, weight: Int64, nowMilliseconds: Int64) async throws -> Int64 {
        let minute = RateLimitPolicy.windowStart(of: .minute, nowMilliseconds: nowMilliseconds)
        let reply = try await Self.weightScript.run(
            on: client, keys: [Keys.weight(ip: ip, minuteStart: minute), Keys.ban(ip: ip)],
            arguments: [String(weight), String(Self.weightWindowTTLMilliseconds)])
        guard let counts = reply.array?.compactMap(\.integer), counts.count == 2 else { throw RedisError.unexpectedReply("request weight \(reply)") }
        let used = counts[1]
        switch policy.judge(weightThisMinute: used, ordersThis10Seconds: nil, ordersToday: nil, isBanned: counts[0] == 1) {
        case .allowed:
            return used
        case .banned:
            throw BinanceError.banned(retryAfterSeconds: policy.banSeconds)
        case .limited(let window):
            var error = try await refuse(ip: ip, window: window, nowMilliseconds: nowMilliseconds)
            for field in Self.usageHeaders(weightThisMinute: used) { error.headers.append(field) }
            throw error
        }
    }

    /// Counts a refusal of `ip`'s request over `window`'s limit as a violation (a ban once
    /// there are enough) and returns the 429 to answer it with.
    public func refuse(ip: String, window: RateLimitPolicy.Window, nowMilliseconds: Int64) async throws -> BinanceError {
        _ = try await Self.violationScript.run(
            on: client, keys: [Keys.violations(ip: ip), Keys.ban(ip: ip)],
            arguments: [String(policy.violationsBeforeBan), String(policy.banSeconds)])
        let retry = RateLimitPolicy.retryAfterSeconds(window, nowMilliseconds: nowMilliseconds)
        return window == .minute ? BinanceError.tooManyRequests(retryAfterSeconds: retry) : BinanceError.tooManyOrders(retryAfterSeconds: retry)
    }
}

/// Counts the public endpoints' weight (`PublicEndpointWeight`) against the caller's address:
/// 429 / 418 past the limit, `X-MBX-USED-WEIGHT-1M` on the answer. Other requests pass as they
/// are (signed ones count in their handler).
public struct PublicWeightMiddleware: RouterMiddleware {
    public typealias Context = APIRequestContext
    let limiter: RequestWeightLimiter

    public init(limiter: RequestWeightLimiter) { self.limiter = limiter }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get, let weight = PublicEndpointWeight.weight(path: request.uri.path, parameter: { request.uri.queryParameters.get($0) })
        else { return try await next(request, context) }
        let used = try await limiter.admit(ip: context.clientIP, weight: weight, nowMilliseconds: WallClock.milliseconds())
        var response = try await next(request, context)
        for field in RequestWeightLimiter.usageHeaders(weightThisMinute: used) { response.headers.append(field) }
        return response
    }
}
