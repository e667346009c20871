import ExchangeAccess
import ExchangeCore
import ExchangeRedis
import HTTPTypes
import Hummingbird

/// Counts request weight per IP and orders per user in Redis, in fixed windows, in one round
/// trip per request (a script), so every gateway instance enforces the same limits.
/// Refused requests count as violations of their IP; `violationsBeforeBan` of them within a
/// minute ban the IP for `banSeconds` (418).
struct RateLimiter: Sendable {
    let client: RedisClient
    let policy: RateLimitPolicy

    struct Usage: Sendable {
        var weightThisMinute: Int64
        var ordersThis10Seconds: Int64?
        var ordersToday: Int64?

        /// Binance's usage headers.
        var headers: HTTPFields {
            var fields: HTTPFields = [HTTPField.Name("X-MBX-USED-WEIGHT-1M")!: String(weightThisMinute)]
            if let orders = ordersThis10Seconds { fields[HTTPField.Name("X-MBX-ORDER-COUNT-10S")!] = String(orders) }
            if let orders = ordersToday { fields[HTTPField.Name("X-MBX-ORDER-COUNT-1D")!] = String(orders) }
            return fields
        }
    }

    /// KEYS: ip weight, ban, user orders 10 s, user orders day, and optionally a signature.
    /// ARGV: weight, window ttls (ms) for minute, 10 s, day; whether this is an order (1) of a
    /// user; the signature's lifetime (ms). A signature already remembered answers `{-1}` and
    /// counts nothing else: the replay check and the counting are one round trip.
    static let countScript = RedisScript(source: """
        if KEYS[5] and not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[6]) then return {-1} end
        local banned = redis.call('EXISTS', KEYS[2])
        local weight = redis.call('INCRBY', KEYS[1], ARGV[1])
        if weight == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        if ARGV[5] ~= '1' then return {banned, weight} end
        local tens = redis.call('INCR', KEYS[3])
        if tens == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
        local day = redis.call('INCR', KEYS[4])
        if day == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[4]) end
        return {banned, weight, tens, day}
        """)

    /// KEYS: violations, ban. ARGV: ban threshold, ban seconds.
    static let violationScript = RedisScript(source: """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
        if count >= tonumber(ARGV[1]) then redis.call('SET', KEYS[2], '1', 'EX', ARGV[2]) end
        return count
        """)

    /// Counts a request of `weight` from `ip` (and an order of `user`); throws the 429/418
    /// error when over a limit, else returns the usage for the response headers. With a
    /// `signature`, first remembers it for `signatureLifetimeMilliseconds`, refusing a replay
    /// (-1022) in the same round trip.
    func admit(
        ip: String, weight: Int64, orderOf user: UserID?, nowMilliseconds: Int64, signature: String? = nil,
        signatureLifetimeMilliseconds: Int64 = 0
    ) async throws -> Usage {
        let minute = RateLimitPolicy.windowStart(of: .minute, nowMilliseconds: nowMilliseconds)
        let tens = RateLimitPolicy.windowStart(of: .tenSeconds, nowMilliseconds: nowMilliseconds)
        let day = RateLimitPolicy.windowStart(of: .day, nowMilliseconds: nowMilliseconds)
        var keys = ["gw:rl:w:\(ip):\(minute)", "gw:rl:ban:\(ip)", "gw:rl:o10:\(user ?? 0):\(tens)", "gw:rl:od:\(user ?? 0):\(day)"]
        if let signature { keys.append(GatewayKeys.signature(signature)) }
        let reply = try await Self.countScript.run(on: client, keys: keys, arguments: [
            String(weight), "61000", "11000", "86401000", user == nil ? "0" : "1", String(signatureLifetimeMilliseconds),
        ])
        if reply.array?.first?.integer == -1 { throw BinanceError.replayedSignature }
        guard let values = reply.array?.compactMap(\.integer), values.count >= 2 else { throw RedisError.unexpectedReply("rate limit \(reply)") }
        let usage = Usage(
            weightThisMinute: values[1], ordersThis10Seconds: values.count == 4 ? values[2] : nil, ordersToday: values.count == 4 ? values[3] : nil)
        let verdict = policy.judge(
            weightThisMinute: usage.weightThisMinute, ordersThis10Seconds: usage.ordersThis10Seconds, ordersToday: usage.ordersToday,
            isBanned: values[0] == 1)
        switch verdict {
        case .allowed:
            return usage
        case .banned:
            throw BinanceError.banned(retryAfterSeconds: policy.banSeconds)
        case .limited(let window):
            _ = try await Self.violationScript.run(
                on: client, keys: ["gw:rl:v:\(ip)", "gw:rl:ban:\(ip)"], arguments: [String(policy.violationsBeforeBan), String(policy.banSeconds)])
            let retry = RateLimitPolicy.retryAfterSeconds(window, nowMilliseconds: nowMilliseconds)
            var error = window == .minute ? BinanceError.tooManyRequests(retryAfterSeconds: retry) : BinanceError.tooManyOrders(retryAfterSeconds: retry)
            for field in usage.headers { error.headers.append(field) }
            throw error
        }
    }
}
