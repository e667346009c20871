import ExchangeRedis

/// A gateway's snowflake worker id, leased in Redis: `gw:worker:{n}` holds the holder's token
/// with a TTL, renewed while it lives, and `gw:worker-generation:{n}` counts the
/// acquisitions.
///
/// Invariant: once an acquisition of worker id n succeeds, no earlier holder of n appends
/// again. Its appends require its token in the lease (`ReplicaLogStore.AppendGuard`), and a
/// holder whose lease lapsed takes it back only while the generation is still the one it
/// acquired (`renew`). `AbandonedOrderSweeper` relies on this: what an earlier holder left
/// unsettled can only be in the logs below where they ended at the acquisition.
enum WorkerLease {
    /// What a renewal found.
    enum Renewal: Equatable {
        /// The lease was still the holder's: its TTL is extended.
        case renewed
        /// The lease had lapsed and nobody acquired it since: it is the holder's again.
        case takenBack
        /// Another acquisition came since (the holder must stop: it may no longer append,
        /// and another may issue its ids).
        case lost
    }

    /// Acquires worker id `worker` for `token` if nobody holds it, for `duration`: the
    /// acquisition's generation, or nil when it is held.
    static func acquire(_ worker: UInt16, token: String, duration: Duration, on client: RedisClient) async throws -> UInt64? {
        let reply = try await acquireScript.run(
            on: client, keys: [GatewayKeys.worker(worker), GatewayKeys.workerGeneration(worker)],
            arguments: [token, String(duration.wholeMilliseconds)])
        guard let generation = reply.integer, generation >= 0 else { throw RedisError.unexpectedReply("worker lease \(reply)") }
        return generation == 0 ? nil : UInt64(generation)
    }

    /// Extends the lease `token` acquired at `generation` by `duration` from now.
    static func renew(_ worker: UInt16, token: String, generation: UInt64, duration: Duration, on client: RedisClient) async throws -> Renewal {
        let reply = try await renewScript.run(
            on: client, keys: [GatewayKeys.worker(worker), GatewayKeys.workerGeneration(worker)],
            arguments: [token, String(generation), String(duration.wholeMilliseconds)])
        switch reply.integer {
        case 1: return .renewed
        case 2: return .takenBack
        case 0: return .lost
        default: throw RedisError.unexpectedReply("worker lease renewal \(reply)")
        }
    }

    /// Gives up the lease if `token` still holds it.
    static func release(_ worker: UInt16, token: String, on client: RedisClient) async throws {
        _ = try await releaseScript.run(on: client, keys: [GatewayKeys.worker(worker)], arguments: [token])
    }

    /// KEYS: lease, generation. ARGV: token, duration (ms). The new generation, or 0 if held.
    static let acquireScript = RedisScript(source: """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end
        return 0
        """)

    /// KEYS: lease, generation. ARGV: token, generation, duration (ms). 1 renewed, 2 taken
    /// back, 0 lost.
    static let renewScript = RedisScript(source: """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
          return 1
        end
        if not holder and redis.call('GET', KEYS[2]) == ARGV[2] then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
          return 2
        end
        return 0
        """)

    /// KEYS: lease. ARGV: token.
    static let releaseScript = RedisScript(source: """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
