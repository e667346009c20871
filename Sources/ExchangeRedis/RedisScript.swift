import Synchronization

/// A Lua script run by SHA (`EVALSHA`), loaded on first use and again after a `NOSCRIPT`
/// (a restarted or flushed Redis forgets scripts).
public final class RedisScript: Sendable {
    /// What a script does to the data set, and so what its acknowledgement waits for on an
    /// endpoint with `acknowledgingReplicas` (`WAIT`).
    public enum Effect: Sendable {
        /// It may write, and its writes count once replicated: the default.
        case replicatedWrites
        /// It may write, but losing its writes in a Redis failover is harmless (a lease
        /// renewal: fencing by epoch keeps the lease safe), so it does not wait for replicas,
        /// and a replica that is slow to acknowledge (its own fsync behind an AOF rewrite)
        /// cannot fail it.
        case unreplicatedWrites
        /// It only reads: run as `EVALSHA_RO` (Redis refuses a write in it), so it does not
        /// wait for replicas (unless commands that write follow it in the pipeline).
        case readOnly
    }

    public let source: String
    public let effect: Effect
    private let sha = Mutex<String?>(nil)

    public init(effect: Effect = .replicatedWrites, source: String) {
        self.source = source
        self.effect = effect
    }

    /// Runs the script with `keys` and `arguments`; an error reply throws `RedisError.server`.
    public func run(on client: RedisClient, keys: [String], arguments: [String]) async throws -> RedisReply {
        try await run(on: client, keys: keys, binaryArguments: arguments.map { Array($0.utf8) })
    }

    /// `run(on:keys:arguments:)` with binary-safe arguments.
    public func run(on client: RedisClient, keys: [String], binaryArguments arguments: [[UInt8]]) async throws -> RedisReply {
        let reply = try await run(on: client, calls: [(keys, arguments)])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Runs the script once per call, all in one pipeline (one round trip), in order; error
    /// replies come back as `.error`. Calls refused with `NOSCRIPT` (they did not run) run
    /// again after the script is loaded.
    public func run(on client: RedisClient, calls: [(keys: [String], arguments: [[UInt8]])]) async throws -> [RedisReply] {
        try await run(on: client, calls: calls, followedBy: []).calls
    }

    /// `run(on:calls:)`, with `commands` sent after the calls in the same pipeline; their
    /// replies come back as they are (a retry after `NOSCRIPT` sends them again: make them
    /// reads, or idempotent). They share the script's acknowledgement: after an
    /// `unreplicatedWrites` script they do not wait for replicas either.
    public func run(
        on client: RedisClient, calls: [(keys: [String], arguments: [[UInt8]])], followedBy commands: [[[UInt8]]]
    ) async throws -> (calls: [RedisReply], followers: [RedisReply]) {
        var replies = [RedisReply?](repeating: nil, count: calls.count)
        var followers: [RedisReply] = []
        for attempt in 0..<2 {
            let loaded: String
            if let known = sha.withLock({ $0 }), attempt == 0 {
                loaded = known
            } else {
                let reply = try await client.send(["SCRIPT", "LOAD", source])
                guard let text = reply.string else { throw RedisError.unexpectedReply("SCRIPT LOAD \(reply)") }
                sha.withLock { $0 = text }
                loaded = text
            }
            let waiting = replies.indices.filter { replies[$0] == nil }
            let command = effect == .readOnly ? "EVALSHA_RO" : "EVALSHA"
            let scripted = waiting.map { index in
                ([command, loaded, String(calls[index].keys.count)] + calls[index].keys).map { Array($0.utf8) } + calls[index].arguments
            }
            let answers = try await client.pipeline(bytes: scripted + commands, awaitingReplicas: effect != .unreplicatedWrites)
            for (index, reply) in zip(waiting, answers) {
                if case .error(let message) = reply, message.hasPrefix("NOSCRIPT"), attempt == 0 { continue }
                replies[index] = reply
            }
            followers = Array(answers.dropFirst(scripted.count))
            if !replies.contains(where: { $0 == nil }) { break }
        }
        // The second attempt answers every call it sends (a repeated NOSCRIPT as an error).
        return (replies.map { $0! }, followers)
    }
}
