import ExchangeCore
import ExchangeThreads
import Foundation
import Synchronization

/// An async Redis client over one hiredis connection, in one of two modes:
///
/// - **Worker** (`init(configuration:)`): a dedicated worker thread owns the connection.
///   Callers on any task queue requests; the worker takes everything queued (up to
///   `maximumPipelineCommands`) and sends it as one pipeline, so concurrent callers share
///   round trips. Nothing blocks the caller's thread or the async pool: only the worker
///   blocks, on hiredis, for at most `ioTimeout` per read or write.
/// - **Owned** (`init(configuration:ownedBy:)`): a `ConnectionThread` owns the connection and
///   every request runs on it, blocking it; a caller already there (a replica's loop) pays no
///   thread hop at all, others hop there and back. Requests run one at a time, in call order.
///
/// A broken connection fails the requests in flight with `connectionLost` (they may or may
/// not have run: callers make requests idempotent or check) and is replaced on the next
/// request; reconnect attempts back off exponentially up to `maximumReconnectBackoff`, and
/// requests arriving during a backoff fail at once with `connectionFailed`.
///
/// A blocking command (`XREAD BLOCK`) holds the connection until it returns: give blocking
/// readers their own client. Call `shutdown()` when done; requests after it fail with `closed`.
public final class RedisClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        /// Bounds connecting and each read and write; must exceed any `BLOCK` time used.
        public var ioTimeout: Duration
        public var maximumQueuedRequests: Int
        public var maximumPipelineCommands: Int
        public var initialReconnectBackoff: Duration
        public var maximumReconnectBackoff: Duration
        /// How long a writing pipeline waits for `endpoint.acknowledgingReplicas` (`WAIT`);
        /// capped at half of `ioTimeout`, so the wait never reads as a broken connection.
        public var replicaAcknowledgementTimeout: Duration

        public init(
            endpoint: RedisEndpoint, ioTimeout: Duration = .seconds(2), maximumQueuedRequests: Int = 65_536,
            maximumPipelineCommands: Int = 4_096, initialReconnectBackoff: Duration = .milliseconds(10),
            maximumReconnectBackoff: Duration = .seconds(1), replicaAcknowledgementTimeout: Duration = .milliseconds(500)
        ) {
            self.endpoint = endpoint
            self.ioTimeout = ioTimeout
            self.replicaAcknowledgementTimeout = min(replicaAcknowledgementTimeout, ioTimeout / 2)
            self.maximumQueuedRequests = maximumQueuedRequests
            self.maximumPipelineCommands = maximumPipelineCommands
            self.initialReconnectBackoff = initialReconnectBackoff
            self.maximumReconnectBackoff = maximumReconnectBackoff
        }
    }

    private enum Transport: Sendable {
        case worker(Worker)
        case owned(ConnectionThread, OwnedConnection)
    }

    public let configuration: Configuration
    private let transport: Transport

    /// A client whose connection is owned by a worker thread of its own.
    public init(configuration: Configuration) {
        Self.ignoreBrokenPipes()
        self.configuration = configuration
        let worker = Worker(configuration: configuration)
        transport = .worker(worker)
        let thread = Thread { worker.run() }
        thread.name = "redis \(configuration.endpoint)"
        thread.start()
    }

    /// A client whose connection is owned by `thread`: requests run there (see the type's notes).
    public init(configuration: Configuration, ownedBy thread: ConnectionThread) {
        Self.ignoreBrokenPipes()
        self.configuration = configuration
        transport = .owned(thread, OwnedConnection(ConnectionKeeper(configuration: configuration)))
    }

    public convenience init(url: String) throws {
        self.init(configuration: Configuration(endpoint: try RedisEndpoint(url: url)))
    }

    /// hiredis writes with plain write(2): a peer that closed mid-write (a Redis restart)
    /// would kill the process with SIGPIPE instead of failing the request with EPIPE.
    private static func ignoreBrokenPipes() { signal(SIGPIPE, SIG_IGN) }

    /// Runs one command; an error reply throws `RedisError.server`. (`awaitingReplicas`: see
    /// `pipeline(bytes:awaitingReplicas:)`.)
    public func send(_ arguments: [String], awaitingReplicas: Bool = true) async throws -> RedisReply {
        let reply = try await pipeline([arguments], awaitingReplicas: awaitingReplicas)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Runs commands back to back in one round trip; error replies come back as `.error`.
    /// (`awaitingReplicas`: see `pipeline(bytes:awaitingReplicas:)`.)
    public func pipeline(_ commands: [[String]], awaitingReplicas: Bool = true) async throws -> [RedisReply] {
        try await pipeline(bytes: commands.map { $0.map { Array($0.utf8) } }, awaitingReplicas: awaitingReplicas)
    }

    /// `pipeline(_:)` with binary arguments.
    ///
    /// `awaitingReplicas: false` acknowledges the writes once the master ran them, without
    /// `WAIT`: only for writes whose loss in a Redis failover is harmless (a lease renewal,
    /// which fencing by epoch keeps safe; a replica's status report, published snapshot or
    /// log trim, each redone later), never for anything acknowledged to a client or forwarded
    /// along the order path. (Batched with others that wait, it waits too.)
    public func pipeline(bytes commands: [[[UInt8]]], awaitingReplicas: Bool = true) async throws -> [RedisReply] {
        precondition(!commands.isEmpty && commands.count <= configuration.maximumPipelineCommands, "pipeline size out of range")
        switch transport {
        case .worker(let worker):
            return try await withCheckedThrowingContinuation { continuation in
                worker.enqueue(Request(commands: commands, awaitsReplicas: awaitingReplicas, continuation: continuation))
            }
        case .owned(let thread, let owned):
            if thread.isCurrent { return try owned.pipeline(commands, awaitingReplicas: awaitingReplicas) }
            return try await withTaskExecutorPreference(thread) {
                precondition(thread.isCurrent, "a task executor preference runs nonisolated code on its executor")
                return try owned.pipeline(commands, awaitingReplicas: awaitingReplicas)
            }
        }
    }

    /// Fails queued requests with `closed` and stops the worker after its current pipeline;
    /// an owned connection closes and refuses further requests.
    public func shutdown() {
        switch transport {
        case .worker(let worker): worker.close()
        case .owned(_, let owned): owned.close()
        }
    }
}

/// The connection of an owned client.
///
/// `@unchecked Sendable`: `keeper` is only used on the owning `ConnectionThread` (every
/// caller checks `isCurrent` first); `isClosed` is guarded by its mutex.
private final class OwnedConnection: @unchecked Sendable {
    private let keeper: ConnectionKeeper
    private let isClosed = Mutex(false)

    init(_ keeper: ConnectionKeeper) { self.keeper = keeper }

    func pipeline(_ commands: [[[UInt8]]], awaitingReplicas: Bool) throws -> [RedisReply] {
        if isClosed.withLock({ $0 }) { throw RedisError.closed }
        return try keeper.pipeline(commands, awaitingReplicas: awaitingReplicas)
    }

    func close() { isClosed.withLock { $0 = true } }
}

struct Request: Sendable {
    var commands: [[[UInt8]]]
    /// Whether its writes wait for the endpoint's replicas (see `RedisClient.pipeline(bytes:awaitingReplicas:)`).
    var awaitsReplicas: Bool
    var continuation: CheckedContinuation<[RedisReply], any Error>
}

/// The worker thread and its queue.
///
/// `@unchecked Sendable`: `pending` and `isClosed` are only touched with `condition` locked;
/// `keeper` only by the worker thread.
private final class Worker: @unchecked Sendable {
    let configuration: RedisClient.Configuration
    private let condition = NSCondition()
    private var pending: [Request] = []
    private var isClosed = false
    private let keeper: ConnectionKeeper

    init(configuration: RedisClient.Configuration) {
        self.configuration = configuration
        keeper = ConnectionKeeper(configuration: configuration)
    }

    func enqueue(_ request: Request) {
        condition.lock()
        if isClosed {
            condition.unlock()
            request.continuation.resume(throwing: RedisError.closed)
            return
        }
        if pending.count >= configuration.maximumQueuedRequests {
            condition.unlock()
            request.continuation.resume(throwing: RedisError.overloaded)
            return
        }
        pending.append(request)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        isClosed = true
        let abandoned = pending
        pending.removeAll()
        condition.signal()
        condition.unlock()
        for request in abandoned { request.continuation.resume(throwing: RedisError.closed) }
    }

    /// Takes up to the pipeline limit of queued requests, waiting for one; nil when closed.
    private func nextBatch() -> [Request]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty, !isClosed { condition.wait() }
        if isClosed { return nil }
        var commandCount = 0
        var taken = 0
        while taken < pending.count, commandCount + pending[taken].commands.count <= configuration.maximumPipelineCommands {
            commandCount += pending[taken].commands.count
            taken += 1
        }
        let batch = Array(pending.prefix(max(1, taken)))
        pending.removeFirst(batch.count)
        return batch
    }

    func run() {
        while let batch = nextBatch() {
            do {
                let replies = try keeper.pipeline(batch.flatMap(\.commands), awaitingReplicas: batch.contains(where: \.awaitsReplicas))
                var offset = 0
                for request in batch {
                    request.continuation.resume(returning: Array(replies[offset..<(offset + request.commands.count)]))
                    offset += request.commands.count
                }
            } catch {
                for request in batch { request.continuation.resume(throwing: error) }
            }
        }
        keeper.disconnect()
    }
}

/// One connection, replaced when broken, with reconnect backoff. Not thread-safe: exactly one
/// thread uses it (a worker, or an owning `ConnectionThread`).
private final class ConnectionKeeper {
    let configuration: RedisClient.Configuration
    private var connection: RedisConnection?
    private var backoff: Duration
    private var nextAttempt = ContinuousClock.now

    init(configuration: RedisClient.Configuration) {
        self.configuration = configuration
        backoff = configuration.initialReconnectBackoff
    }

    /// Sends `commands` as one pipeline on the live connection, connecting first if needed.
    ///
    /// With `acknowledgingReplicas` set and `awaitingReplicas`, a pipeline that writes ends
    /// with `WAIT`, and throws `notReplicated` unless enough replicas took it. A reply saying
    /// the server is no longer the master drops the connection, so the next request finds the
    /// new one.
    func pipeline(_ commands: [[[UInt8]]], awaitingReplicas: Bool) throws(RedisError) -> [RedisReply] {
        let connection = try connected()
        let replicas = configuration.endpoint.acknowledgingReplicas
        let waits = awaitingReplicas && replicas > 0 && commands.contains(where: RedisMasterDiscovery.writes)
        let waitMilliseconds = max(1, configuration.replicaAcknowledgementTimeout.wholeMilliseconds)
        let sent = waits ? commands + [["WAIT", "\(replicas)", "\(waitMilliseconds)"].map { Array($0.utf8) }] : commands
        var replies: [RedisReply]
        do {
            replies = try connection.pipeline(sent)
        } catch {
            self.connection = nil
            throw error
        }
        if let failure = replies.lazy.compactMap(RedisMasterDiscovery.durabilityFailure).first {
            if case .connectionLost = failure { self.connection = nil }
            throw failure
        }
        if waits {
            let acknowledged = replies.removeLast().integer ?? 0
            guard acknowledged >= replicas else {
                throw .notReplicated("\(acknowledged) of \(replicas) replicas acknowledged within \(configuration.replicaAcknowledgementTimeout)")
            }
        }
        return replies
    }

    func disconnect() { connection = nil }

    /// The live connection, connecting if needed (unless a backoff is running).
    private func connected() throws(RedisError) -> RedisConnection {
        if let connection, !connection.isBroken { return connection }
        connection = nil
        let now = ContinuousClock.now
        guard now >= nextAttempt else {
            throw .connectionFailed("\(configuration.endpoint): reconnecting, next attempt in \(nextAttempt - now)")
        }
        do {
            let fresh = try RedisMasterDiscovery.connect(to: configuration.endpoint, timeout: configuration.ioTimeout)
            connection = fresh
            backoff = configuration.initialReconnectBackoff
            return fresh
        } catch {
            nextAttempt = now + backoff
            backoff = min(backoff * 2, configuration.maximumReconnectBackoff)
            throw error
        }
    }
}
