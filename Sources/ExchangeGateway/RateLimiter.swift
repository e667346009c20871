import ExchangeAccess
import ExchangeCluster
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import HTTPTypes
import Hummingbird

/// Counts a signed request's weight per IP and orders per user in Redis, in fixed windows, in
/// one round trip per request (a script), so every gateway instance enforces the same limits.
/// The weight goes into `RequestWeightLimiter`'s counters (the public endpoints' too); refused
/// requests count as violations of their IP there.
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

    /// KEYS: ip weight, ban, user orders 10 s, user orders day; optionally a signature; then
    /// optionally an order claim's keys: the user's client ids, the order, the user's orders,
    /// the user's open orders, the halt registry, the order's worker id's marked orders (the
    /// record is written with the unsettled mark), the order's worker id's lease.
    /// ARGV: weight, window ttls (ms) for minute, 10 s, day; whether this is an order (1) of a
    /// user; the signature's lifetime (ms); the limits (weight per minute, orders per 10 s and
    /// per day); with a claim: client order id, order id, time (ms), index size, the three
    /// halt registry fields that would halt the order's symbol, the lease token the order id was
    /// issued under, the record's fields.
    ///
    /// A signature already remembered answers `{-1}` and counts nothing else. A claim is made
    /// only within the limits and while no halt covers the symbol (else it answers the counts,
    /// `''` and the halt's field): it takes the client id and writes the order's record and
    /// indexes (the user's order index keeps its newest `index size` entries), answering the
    /// counts and `''` (and lists the order among its worker id's marked orders); if the
    /// client id is taken it writes nothing and answers the order id
    /// holding it; if the lease does not hold the token, it writes nothing and answers the counts,
    /// `''`, `''` and `NOTHOLDER`. So replay check, counting, halt check and claim are one round
    /// trip, and a halt stored before it refuses the order on every gateway.
    static let admissionScript = RedisScript(source: """
        if KEYS[5] and not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[6]) then return {-1} end
        local banned = redis.call('EXISTS', KEYS[2])
        local weight = redis.call('INCRBY', KEYS[1], ARGV[1])
        if weight == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        if ARGV[5] ~= '1' then return {banned, weight} end
        local tens = redis.call('INCR', KEYS[3])
        if tens == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
        local day = redis.call('INCR', KEYS[4])
        if day == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[4]) end
        if not KEYS[6] or banned == 1 or weight > tonumber(ARGV[7]) or tens > tonumber(ARGV[8]) or day > tonumber(ARGV[9]) then
          return {banned, weight, tens, day}
        end
        local halts = redis.call('HMGET', KEYS[10], ARGV[14], ARGV[15], ARGV[16])
        for i = 1, 3 do
          if halts[i] then return {banned, weight, tens, day, '', ARGV[13 + i]} end
        end
        local existing = redis.call('HGET', KEYS[6], ARGV[10])
        if existing then return {banned, weight, tens, day, existing} end
        if redis.call('GET', KEYS[12]) ~= ARGV[17] then return {banned, weight, tens, day, '', '', 'NOTHOLDER'} end
        redis.call('HSET', KEYS[6], ARGV[10], ARGV[11])
        redis.call('HSET', KEYS[7], unpack(ARGV, 18))
        redis.call('ZADD', KEYS[8], ARGV[12], ARGV[11])
        redis.call('ZREMRANGEBYRANK', KEYS[8], 0, -tonumber(ARGV[13]) - 1)
        redis.call('SADD', KEYS[9], ARGV[11])
        redis.call('SADD', KEYS[11], ARGV[11])
        return {banned, weight, tens, day, ''}
        """)

    /// Why an order's admission wrote nothing although it was within the limits.
    enum AdmissionRefusal: Error {
        /// The lease of the worker id the order's id was issued under is not this instance's
        /// any more (`OrderClaim.leaseToken`).
        case notLeaseHolder
    }

    /// A new order to record with its admission: see `admissionScript`.
    struct OrderClaim: Sendable {
        var record: OrderRecord
        /// The shard holding the order's symbol (for the halt check).
        var shard: ShardID
        /// The token of the worker lease the order id was issued under: the claim is made only
        /// while it holds (`WorkerLease`), so no order of a cut-off instance is recorded after
        /// the worker id's acquirer took its snapshot (`AbandonedOrderSweeper`).
        var leaseToken: String
    }

    /// What an admitted request may go on with.
    struct Admission: Sendable {
        var usage: Usage
        /// With a claim: the order id that already held the client order id (nothing was
        /// written), or nil when the claim was made.
        var claimedBy: OrderID?
    }

    /// The same counters for requests that count only weight (the public endpoints).
    var weights: RequestWeightLimiter { RequestWeightLimiter(client: client, policy: policy) }

    /// Counts a request of `weight` from `ip` (and an order of `user`); throws the 429/418
    /// error when over a limit, else returns the usage for the response headers. With a
    /// `signature`, first remembers it for `signatureLifetimeMilliseconds`, refusing a replay
    /// (-1022) in the same round trip; with a `claim` (an order of `user`), also claims its
    /// client order id and records it when within the limits.
    func admit(
        ip: String, weight: Int64, orderOf user: UserID?, nowMilliseconds: Int64, signature: String? = nil,
        signatureLifetimeMilliseconds: Int64 = 0, claim: OrderClaim? = nil
    ) async throws -> Admission {
        precondition(claim == nil || (signature != nil && user != nil), "a claim is an order of a signed request")
        let minute = RateLimitPolicy.windowStart(of: .minute, nowMilliseconds: nowMilliseconds)
        let tens = RateLimitPolicy.windowStart(of: .tenSeconds, nowMilliseconds: nowMilliseconds)
        let day = RateLimitPolicy.windowStart(of: .day, nowMilliseconds: nowMilliseconds)
        var keys = [
            RequestWeightLimiter.Keys.weight(ip: ip, minuteStart: minute), RequestWeightLimiter.Keys.ban(ip: ip),
            "gw:rl:o10:\(user ?? 0):\(tens)", "gw:rl:od:\(user ?? 0):\(day)",
        ]
        if let signature { keys.append(GatewayKeys.signature(signature)) }
        var arguments = [
            String(weight), String(RequestWeightLimiter.weightWindowTTLMilliseconds), "11000", "86401000", user == nil ? "0" : "1", String(signatureLifetimeMilliseconds),
            String(policy.requestWeightPerMinute), String(policy.ordersPer10Seconds), String(policy.ordersPerDay),
        ]
        if let record = claim?.record {
            keys += [
                GatewayKeys.clientOrderIDs(record.userID), GatewayKeys.order(record.orderID), GatewayKeys.userOrders(record.userID),
                GatewayKeys.userOpenOrders(record.userID), ClearingAdmin.haltsKey, GatewayKeys.unsettledOrders(of: record.orderID),
                GatewayKeys.worker(SnowflakeGenerator.worker(of: record.orderID)),
            ]
            arguments += [record.clientOrderID, String(record.orderID), String(record.timeMilliseconds), String(GatewayKeys.userIndexEntries)]
                + HaltScope.fields(symbol: record.symbol, shard: claim!.shard) + [claim!.leaseToken] + record.fields
        }
        let reply = try await Self.admissionScript.run(on: client, keys: keys, arguments: arguments)
        guard let values = reply.array, let first = values.first?.integer else { throw RedisError.unexpectedReply("rate limit \(reply)") }
        if first == -1 { throw BinanceError.replayedSignature }
        let counts = values.prefix(4).compactMap(\.integer)
        guard counts.count >= 2 else { throw RedisError.unexpectedReply("rate limit \(reply)") }
        let usage = Usage(
            weightThisMinute: counts[1], ordersThis10Seconds: counts.count == 4 ? counts[2] : nil, ordersToday: counts.count == 4 ? counts[3] : nil)
        let verdict = policy.judge(
            weightThisMinute: usage.weightThisMinute, ordersThis10Seconds: usage.ordersThis10Seconds, ordersToday: usage.ordersToday,
            isBanned: counts[0] == 1)
        switch verdict {
        case .allowed:
            if claim != nil, values.count < 5 { throw RedisError.unexpectedReply("order claim \(reply)") }
            // Nothing written: this instance no longer holds the worker id of the order's id.
            if values.count == 7 { throw AdmissionRefusal.notLeaseHolder }
            if values.count == 6, let field = values[5].string {
                var error = BinanceError.marketHalted(HaltScope(field: field)?.description ?? field)
                for header in usage.headers { error.headers.append(header) }
                throw error
            }
            return Admission(usage: usage, claimedBy: values.count == 5 ? values[4].string.flatMap { UInt64($0) } : nil)
        case .banned:
            throw BinanceError.banned(retryAfterSeconds: policy.banSeconds)
        case .limited(let window):
            var error = try await weights.refuse(ip: ip, window: window, nowMilliseconds: nowMilliseconds)
            for field in usage.headers { error.headers.append(field) }
            throw error
        }
    }
}
