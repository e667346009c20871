import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeRedis
import Foundation
import Logging
import Metrics
import Synchronization

/// Settles the clearing input entries whose append outcome the submitter could not learn
/// (every attempt failed, or the search for a skipped retry could not conclude): it decides
/// for good whether each is in its partition's input log, and makes the view agree.
///
/// Until an entry is settled, the orders it places keep their records and client order ids,
/// marked unsettled (record field `un`): a retry with the same `newClientOrderId` is answered
/// -1007 (status unknown), and never places a second order. Per entry:
/// 1. it is recorded in `gw:unsettled` (field `PARTITION:PRODUCER:TAG`, JSON of
///    `UnknownAppend`) with the earliest time its entry could carry (Redis's clock, less the
///    time since its first attempt, less a second), and its orders' records are marked;
/// 2. its tag is fenced (`ReplicaLogStore.fenceTag`): a late attempt still on its way is
///    skipped from now on;
/// 3. the log is searched for it (tag and bytes) from that time. Found: the orders stand (the
///    projector brings their state) and lose the mark. Not there, the search complete: the
///    orders never existed, and their records, indexes and client order ids go. The log
///    trimmed into the range searched: inconclusive. The entry stays recorded and its orders
///    marked; it is logged as an error and counted, for an operator.
///
/// Each step is retried until Redis answers. Step 1 outlives the process: an instance
/// settles whatever `gw:unsettled` holds when it starts. The steps are idempotent, so two
/// instances settling one entry agree.
final class AppendSettler: Sendable {
    /// An input entry whose append outcome is unknown.
    struct UnknownAppend: Sendable, Codable, Equatable {
        struct Placement: Sendable, Codable, Equatable {
            var orderID: OrderID
            var userID: UserID
        }

        var partition: PartitionID
        var producer: String
        /// The entry's append tag (its position as the producer numbers them).
        var tag: UInt64
        var payload: Data
        /// The orders the entry places (its cancels need no settling: an absent cancel left nothing).
        var placements: [Placement]
        /// The earliest Redis time (µs since the Unix epoch) the entry can carry if it landed;
        /// 0 until step 1 sets it.
        var notBeforeMicroseconds: UInt64 = 0

        var field: String { "\(partition):\(producer):\(tag)" }
    }

    /// How an entry's search ended.
    enum Verdict: Equatable {
        case landed, absent, inconclusive

        init(found: Bool, complete: Bool) {
            self = found ? .landed : complete ? .absent : .inconclusive
        }
    }

    static let key = "gw:unsettled"
    static let retryInterval = Duration.milliseconds(200)
    /// How long a stopping settler still tries to record (step 1) what it holds.
    static let stoppingGrace = Duration.seconds(2)

    let client: RedisClient
    let logger: Logger
    /// Adopted entries not yet recorded (step 1), by the time of their first attempt.
    private let adopted = Mutex<[(append: UnknownAppend, firstAttempt: ContinuousClock.Instant)]>([])
    /// The orders of adopted entries not yet recorded: their records carry no mark yet.
    private let unmarked = Mutex<Set<OrderID>>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let settled = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "landed")])
    private let absent = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "absent")])
    private let inconclusive = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "inconclusive")])

    init(client: RedisClient, logger: Logger) {
        self.client = client
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Takes `append` to settle; its first attempt began at `firstAttempt`.
    func adopt(_ append: UnknownAppend, firstAttempt: ContinuousClock.Instant) {
        unmarked.withLock { $0.formUnion(append.placements.map(\.orderID)) }
        adopted.withLock { $0.append((append, firstAttempt)) }
        wake.yield()
        logger.error("gateway.submit append outcome unknown, settling", metadata: [
            "partition": "\(append.partition)", "tag": "\(append.tag)", "orders": "\(append.placements.map(\.orderID))",
        ])
    }

    /// Whether `orderID` belongs to an adopted entry whose record is not marked yet.
    func holds(_ orderID: OrderID) -> Bool { unmarked.withLock { $0.contains(orderID) } }

    /// Settles what `gw:unsettled` holds, then each adopted entry, until cancelled. Cancelled, it
    /// still tries (for `stoppingGrace`) to record what it holds, for the next start to settle.
    func run() async {
        let recorded = await retrying("read the unsettled entries") { try await self.recordedAppends() }
        for append in recorded ?? [] { await settle(append) }
        for await _ in wakeups {
            while let next = adopted.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
                guard let append = await record(next.append, firstAttempt: next.firstAttempt) else {
                    adopted.withLock { $0.insert(next, at: 0) }
                    break
                }
                await settle(append)
            }
        }
        let left = adopted.withLock { adopted in defer { adopted.removeAll() }; return adopted }
        guard !left.isEmpty else { return }
        // A task of its own: this one is cancelled, and the records are what lets the next start settle.
        await Task {
            let deadline = ContinuousClock.now + Self.stoppingGrace
            for (append, firstAttempt) in left where ContinuousClock.now < deadline {
                if (try? await self.mark(append, firstAttempt: firstAttempt)) == nil {
                    self.logger.error("gateway.submit unsettled append lost at shutdown", metadata: ["tag": "\(append.tag)"])
                }
            }
        }.value
    }

    /// The entries `gw:unsettled` holds (a malformed one is logged and skipped).
    func recordedAppends() async throws -> [UnknownAppend] {
        let fields = try await client.send(["HGETALL", Self.key]).array?.compactMap(\.string) ?? []
        return stride(from: 1, to: fields.count, by: 2).compactMap { index in
            guard let append = try? JSONDecoder().decode(UnknownAppend.self, from: Data(fields[index].utf8)) else {
                logger.error("gateway.submit malformed unsettled entry", metadata: ["field": "\(fields[index - 1])"])
                return nil
            }
            return append
        }
    }

    /// Step 1, retried until it succeeds; nil if cancelled first.
    private func record(_ append: UnknownAppend, firstAttempt: ContinuousClock.Instant) async -> UnknownAppend? {
        await retrying("record an unsettled append") { try await self.mark(append, firstAttempt: firstAttempt) }
    }

    /// Step 1: records `append` with its earliest time, marks its orders' records.
    func mark(_ append: UnknownAppend, firstAttempt: ContinuousClock.Instant) async throws -> UnknownAppend {
        var append = append
        let lookBack = UInt64(max(0, firstAttempt.duration(to: .now).wholeMicroseconds)) + 1_000_000
        let now = try await client.serverMicroseconds()
        append.notBeforeMicroseconds = now > lookBack ? now - lookBack : 0
        let json = String(decoding: try JSONEncoder().encode(append), as: UTF8.self)
        _ = try await Self.markScript.run(
            on: client, keys: [Self.key] + append.placements.map { GatewayKeys.order($0.orderID) }, arguments: [append.field, json])
        unmarked.withLock { $0.subtract(append.placements.map(\.orderID)) }
        return append
    }

    /// Steps 2 and 3 for a recorded `append`, retried until they conclude or the task is cancelled.
    func settle(_ append: UnknownAppend) async {
        let store = ReplicaLogStore(keys: .clearingPartition(append.partition), client: client)
        let verdict = await retrying("settle an unsettled append") { () async throws -> Verdict in
            try await store.fenceTag(append.tag, producer: append.producer)
            let (found, complete) = try await store.landedInputs(
                [(String(append.tag), Array(append.payload))], notBeforeMicroseconds: append.notBeforeMicroseconds)
            let verdict = Verdict(found: !found.isEmpty, complete: complete)
            switch verdict {
            case .landed:
                _ = try await Self.landedScript.run(
                    on: client, keys: [Self.key] + append.placements.map { GatewayKeys.order($0.orderID) }, arguments: [append.field])
            case .absent:
                try await Self.forget(append.placements, unsettledField: append.field, on: client)
            case .inconclusive:
                break
            }
            return verdict
        }
        let metadata: Logger.Metadata = ["partition": "\(append.partition)", "tag": "\(append.tag)", "orders": "\(append.placements.map(\.orderID))"]
        switch verdict {
        case .landed?:
            settled.increment()
            logger.warning("gateway.submit unsettled append settled: it is in the log, its orders stand", metadata: metadata)
        case .absent?:
            absent.increment()
            logger.warning("gateway.submit unsettled append settled: it never landed, its orders are forgotten", metadata: metadata)
        case .inconclusive?:
            inconclusive.increment()
            logger.error(
                "gateway.submit unsettled append inconclusive: the input log was trimmed past its time; its orders stay marked unsettled in \(Self.key)",
                metadata: metadata)
        case nil:
            break
        }
    }

    /// `body` until it returns; each failure logged, then retried after `retryInterval`. Nil
    /// once the task is cancelled.
    private func retrying<T>(_ what: String, _ body: () async throws -> T) async -> T? {
        while !Task.isCancelled {
            do { return try await body() } catch {
                logger.warning("gateway.submit could not \(what): \(error)")
                try? await Task.sleep(for: Self.retryInterval)
            }
        }
        return nil
    }

    /// Removes `placements`' records, index entries and client order ids (each only if still
    /// that order's), and `unsettledField` of `gw:unsettled` when not empty: orders that were
    /// never appended leave nothing a reader could take for them.
    static func forget(_ placements: [UnknownAppend.Placement], unsettledField: String = "", on client: RedisClient) async throws {
        let keys = [key] + placements.flatMap { placement in
            [GatewayKeys.order(placement.orderID), GatewayKeys.userOrders(placement.userID),
             GatewayKeys.userOpenOrders(placement.userID), GatewayKeys.clientOrderIDs(placement.userID)]
        }
        _ = try await forgetScript.run(on: client, keys: keys, arguments: [unsettledField] + placements.map { String($0.orderID) })
    }

    /// KEYS: `gw:unsettled`, then per order its record, the user's orders, open orders and
    /// client ids. ARGV: the unsettled field ('' for none), then the order ids.
    static let forgetScript = RedisScript(source: """
        for i = 2, #ARGV do
          local k = 2 + (i - 2) * 4
          local client = redis.call('HGET', KEYS[k], 'c')
          if client and redis.call('HGET', KEYS[k + 3], client) == ARGV[i] then redis.call('HDEL', KEYS[k + 3], client) end
          redis.call('DEL', KEYS[k])
          redis.call('ZREM', KEYS[k + 1], ARGV[i])
          redis.call('SREM', KEYS[k + 2], ARGV[i])
        end
        if ARGV[1] ~= '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
        return 0
        """)

    /// KEYS: `gw:unsettled`, the orders' records. ARGV: field, JSON. Records the entry, marks
    /// the records that exist.
    static let markScript = RedisScript(source: """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        for i = 2, #KEYS do
          if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 'un', '1') end
        end
        return 0
        """)

    /// KEYS: `gw:unsettled`, the orders' records. ARGV: field. Unmarks the records, forgets the entry.
    static let landedScript = RedisScript(source: """
        for i = 2, #KEYS do redis.call('HDEL', KEYS[i], 'un') end
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 0
        """)
}
