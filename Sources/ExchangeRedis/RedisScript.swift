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
            let command = (["EVALSHA", loaded, String(keys.count)] + keys).map { Array($0.utf8) } + arguments
            let reply = try await client.pipeline(bytes: [command])[0]
            if case .error(let message) = reply {
                if message.hasPrefix("NOSCRIPT"), attempt == 0 { continue }
                throw RedisError.server(message)
            }
            return reply
        }
        throw RedisError.server("NOSCRIPT after reloading the script")
    }
}
