import Synchronization

/// A Lua script run by SHA (`EVALSHA`), loaded on first use and again after a `NOSCRIPT`
/// (a restarted or flushed Redis forgets scripts).
public final class RedisScript: Sendable {
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(source: String) { self.source = source }

    /// Runs the script with `keys` and `arguments`; an error reply throws `RedisError.server`.
    public func run(on client: RedisClient, keys: [String], arguments: [String]) async throws -> RedisReply {
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
            let reply = try await client.pipeline([["EVALSHA", loaded, String(keys.count)] + keys + arguments])[0]
            if case .error(let message) = reply {
                if message.hasPrefix("NOSCRIPT"), attempt == 0 { continue }
                throw RedisError.server(message)
            }
            return reply
        }
        throw RedisError.server("NOSCRIPT after reloading the script")
    }
}
