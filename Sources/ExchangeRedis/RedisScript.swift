import Synchronization

/// A Lua script run by SHA (`EVALSHA`), loaded on first use and again after a `NOSCRIPT`
/// (a restarted or flushed Redis forgets scripts).
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(source: String) { self.source = source }

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
    /// reads, or idempotent).
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
            let scripted = waiting.map { index in
                (["EVALSHA", loaded, String(calls[index].keys.count)] + calls[index].keys).map { Array($0.utf8) } + calls[index].arguments
            }
            let answers = try await client.pipeline(bytes: scripted + commands)
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
