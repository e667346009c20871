import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// One blocking hiredis connection.
///
/// Not thread-safe and not `Sendable`: exactly one thread owns it (a `RedisClient`'s worker).
/// Every call blocks that thread for at most the I/O timeout. After a connection error it is
/// broken for good: the owner drops it and connects again.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    private(set) var isBroken = false

    /// - Parameter timeout: bounds connect, each read and each write.
    init(endpoint: RedisEndpoint, timeout: Duration) throws(RedisError) {
        let time = Self.timeval(timeout)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), time) else {
            throw .connectionFailed("out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw .connectionFailed("\(endpoint): \(message)")
        }
        redisSetTimeout(context, time)
        self.context = context
        if let password = endpoint.password {
            let command = (endpoint.username.map { ["AUTH", $0] } ?? ["AUTH"]) + [password]
            let reply = try pipeline([command.map { Array($0.utf8) }])[0]
            if case .error(let message) = reply { throw .connectionFailed("\(endpoint): AUTH refused: \(message)") }
        }
    }

    deinit { redisFree(context) }

    private static func timeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Sends every command in one write and reads one reply per command, in order.
    ///
    /// Error replies come back as `.error` (the connection stays usable); an I/O error or
    /// timeout throws `connectionLost` and breaks the connection.
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard !isBroken else { throw .connectionLost("connection already broken") }
        for command in commands {
            let status = Self.append(command, to: context)
            guard status == REDIS_OK else { throw brokenConnection() }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw brokenConnection() }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(RedisReply(copying: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Marks the connection broken and describes why.
    private func brokenConnection() -> RedisError {
        isBroken = true
        return .connectionLost(Self.errorString(context))
    }

    private static func append(_ command: [[UInt8]], to context: UnsafeMutablePointer<redisContext>) -> Int32 {
        // hiredis copies the arguments into its output buffer, so the pointers only need to
        // live for this call.
        var lengths = command.map { $0.count }
        let pointers = command.map { argument -> UnsafeMutablePointer<CChar> in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, argument.count))
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress { UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: argument.count) }
            }
            return pointer
        }
        defer { pointers.forEach { $0.deallocate() } }
        var constPointers = pointers.map { UnsafePointer<CChar>?($0) }
        return constPointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeMutableBufferPointer { argvlen in
                redisAppendCommandArgv(context, Int32(command.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
    }
}
