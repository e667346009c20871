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
/// The orders an entry places keep their records and client order ids, which carry the
/// unsettled mark from their admission on (`OrderRecord.isUnsettled`): a retry with the same
/// `newClientOrderId` is answered -1007 (status unknown), and never places a second order.
/// Per entry:
/// 1. it is recorded in `gw:unsettled` (field `PARTITION:PRODUCER:TAG:ORDER`, the entry's
///    first order: two holders of one worker id may hand out the same tag; JSON of
///    `UnknownAppend`);
/// 2. its tag is fenced (`ReplicaLogStore.fenceTag`): an attempt still on its way is skipped
///    from now on. If the producer's last tag was below the entry's when first fenced, the
///    entry never landed: absent, with no search. (The submitter fences the tag itself before
///    its next append attempt, and a new holder of the worker id before its first append, so
///    that the first fence usually sees the last tag as the unknown attempt left it; when a
///    later entry of the producer got in first, as a second entry of the same batch and
///    partition may, the search decides);
/// 3. otherwise the log is searched for it (tag and bytes), newest first, down to its
///    producer's own entry with a lower tag (`precedes`; a producer's tags increase along the
///    log). No clock decides: a bound `fallbackLookBack` before the first attempt only limits
///    the search, and reaching it is inconclusive.
///
/// Found: the orders stand and lose the mark (the projector brings their state). Absent: the
/// orders never existed, and their records, indexes and client order ids go. Inconclusive (the
/// log trimmed, or the bound reached, before the search could conclude): the entry stays
/// recorded and its orders marked; it is logged as an error, counted, and
/// `exchange_gateway_unsettled_appends` (the entries in `gw:unsettled`) stays above 0 for an
/// operator. Its orders' marks are looked at every 10 s: once none is left (the projector
/// removes a mark when clearing answers the order, so the entry did land), it is settled as
/// landed.
///
/// Step 1 is done for every adopted entry before any is searched; each search gets one attempt
/// per round, so one entry that cannot be searched holds up no other. Step 1 outlives the
/// process: an instance settles whatever `gw:unsettled` holds when it starts. The steps are
/// idempotent, so two instances settling one entry agree.
///
/// It also forgets, retrying until Redis answers (and for `stoppingGrace` when stopping),
/// orders that provably never reached the log but whose removal failed (`forgetNowOrLater`).
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
        /// The orders the entry places (its cancels need no settling: an absent cancel left
        /// nothing; an entry of cancels only is not adopted).
        var placements: [Placement]
        /// The search's fallback bound (Redis time, µs since the Unix epoch): entries appended
        /// before it are not read. `fallbackLookBack` before the first attempt; 0 until step 1.
        var notBeforeMicroseconds: UInt64 = 0

        var field: String { "\(partition):\(producer):\(tag):\(placements.first?.orderID ?? 0)" }
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
    /// How often an idle settler looks for adopted entries (and samples `gw:unsettled`).
    static let idleInterval = Duration.seconds(1)
    /// How far before an entry's first attempt (by Redis's clock) a search reads at most, when
    /// no entry of its producer stops it first: a bound on the search's cost (reaching it is
    /// inconclusive), wide enough for clock steps and failover skew between Redis hosts.
    static let fallbackLookBack = Duration.seconds(300)
    /// How long a stopping submitter still tries to record (step 1) the entries it adopted.
    static let stoppingGrace = Duration.seconds(2)

    let client: RedisClient
    let logger: Logger
    private struct Held {
        /// Adopted entries not yet recorded (step 1), with the time of their first attempt.
        var adopted: [(append: UnknownAppend, firstAttempt: ContinuousClock.Instant)] = []
        /// Orders never appended whose removal failed.
        var toForget: [UnknownAppend.Placement] = []
        /// `recordBeforeStopping` ran: nothing is retried in the background any more.
        var isStopping = false
    }

    private let held = Mutex(Held())
    private let landedCount = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "landed")])
    private let absentCount = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "absent")])
    private let inconclusiveCount = Counter(label: "exchange_gateway_unknown_appends_total", dimensions: [("verdict", "inconclusive")])
    private let recordedGauge = Gauge(label: "exchange_gateway_unsettled_appends")

    init(client: RedisClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Takes `append` to settle; its first attempt began at `firstAttempt`.
    func adopt(_ append: UnknownAppend, firstAttempt: ContinuousClock.Instant) {
        let taken = held.withLock { held in
            if !held.isStopping { held.adopted.append((append, firstAttempt)) }
            return !held.isStopping
        }
        logger.error("gateway.submit append outcome unknown, \(taken ? "settling" : "stopping: not recorded, its orders stay marked unsettled")", metadata: metadata(append))
    }

    /// Forgets `placements` (never appended) now, or, if Redis fails, in the next rounds.
    func forgetNowOrLater(_ placements: [UnknownAppend.Placement]) async {
        do {
            try await Self.forget(placements, on: client)
        } catch {
            let queued = held.withLock { held in
                if !held.isStopping { held.toForget += placements }
                return !held.isStopping
            }
            logger.error("gateway.submit could not forget orders never appended\(queued ? ", will retry" : "; they stay marked unsettled"): \(error)",
                         metadata: ["orders": "\(placements.map(\.orderID))"])
        }
    }

    /// The partitions and tags of `producer`'s entries `gw:unsettled` holds.
    func recordedTags(of producer: String) async throws -> [(partition: PartitionID, tag: UInt64)] {
        let fields = try await client.send(["HKEYS", Self.key]).array?.compactMap(\.string) ?? []
        return fields.compactMap { field in
            let parts = field.split(separator: ":")
            guard parts.count == 4, parts[1] == producer, let partition = PartitionID(parts[0]), let tag = UInt64(parts[2]) else { return nil }
            return (partition, tag)
        }
    }

    /// Settles what `gw:unsettled` holds, then what is adopted, until cancelled.
    func run() async {
        var waiting: [UnknownAppend] = []
        /// Searched without a conclusion: their marks are looked at every 10 s.
        var inconclusive: [UnknownAppend] = []
        var loaded = false
        var lastSample = ContinuousClock.now - .seconds(60)
        while !Task.isCancelled {
            if !loaded {
                do {
                    for append in try await recordedAppends() where !waiting.contains(where: { $0.field == append.field }) {
                        waiting.append(append)
                    }
                    loaded = true
                } catch {
                    logger.warning("gateway.submit could not read \(Self.key): \(error)")
                }
            }
            // Taken off the list only once recorded: a stopping submitter records what is left.
            while let next = held.withLock({ $0.adopted.first }) {
                do {
                    let recorded = try await record(next.append, firstAttempt: next.firstAttempt)
                    held.withLock { $0.adopted.removeAll { $0.append.field == recorded.field } }
                    if !waiting.contains(where: { $0.field == recorded.field }) { waiting.append(recorded) }
                } catch {
                    logger.warning("gateway.submit could not record an unsettled append: \(error)")
                    break
                }
            }
            var unconcluded: [UnknownAppend] = []
            for append in waiting {
                switch await settle(append) {
                case nil: unconcluded.append(append)
                case .inconclusive?: inconclusive.append(append)
                case .landed?, .absent?: break
                }
            }
            waiting = unconcluded
            let toForget = held.withLock { held in defer { held.toForget.removeAll() }; return held.toForget }
            if !toForget.isEmpty { await forgetNowOrLater(toForget) }
            if lastSample.duration(to: .now) >= .seconds(10) {
                var stillMarked: [UnknownAppend] = []
                for append in inconclusive where await !settledByClearing(append) { stillMarked.append(append) }
                inconclusive = stillMarked
                if let count = try? await client.send(["HLEN", Self.key]).integer { recordedGauge.record(count) }
                lastSample = .now
            }
            let busy = !loaded || !waiting.isEmpty || held.withLock { !$0.adopted.isEmpty || !$0.toForget.isEmpty }
            try? await Task.sleep(for: busy ? Self.retryInterval : Self.idleInterval)
        }
    }

    /// Records (step 1) what is still adopted and forgets what is still to forget, retrying for
    /// `stoppingGrace`, even if the calling task is cancelled: the submitter calls it once it
    /// has stopped appending, so that the next start settles them. Logs each it could not do.
    func recordBeforeStopping() async {
        let (left, toForget) = held.withLock { held in
            defer { held = Held(isStopping: true) }
            return (held.adopted, held.toForget)
        }
        guard !left.isEmpty || !toForget.isEmpty else { return }
        // A task of its own: the caller's is cancelled. Entries first: they may have landed.
        await Task {
            let deadline = ContinuousClock.now + Self.stoppingGrace
            for (append, firstAttempt) in left {
                var recorded = false
                while !recorded, ContinuousClock.now < deadline {
                    recorded = (try? await self.record(append, firstAttempt: firstAttempt)) != nil
                    if !recorded { try? await Task.sleep(for: .milliseconds(100)) }
                }
                if !recorded {
                    self.logger.error("gateway.submit unsettled append not recorded at shutdown; its orders stay marked unsettled", metadata: self.metadata(append))
                }
            }
            var forgotten = toForget.isEmpty
            while !forgotten, ContinuousClock.now < deadline {
                forgotten = (try? await Self.forget(toForget, on: self.client)) != nil
                if !forgotten { try? await Task.sleep(for: .milliseconds(100)) }
            }
            if !forgotten {
                self.logger.error("gateway.submit orders never appended left marked unsettled at shutdown", metadata: ["orders": "\(toForget.map(\.orderID))"])
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

    /// Step 1: records `append` with its search's fallback bound.
    func record(_ append: UnknownAppend, firstAttempt: ContinuousClock.Instant) async throws -> UnknownAppend {
        var append = append
        append.notBeforeMicroseconds = try await Self.notBefore(firstAttempt, on: client)
        let json = String(decoding: try JSONEncoder().encode(append), as: UTF8.self)
        _ = try await client.send(["HSET", Self.key, append.field, json])
        return append
    }

    /// Redis's time (µs since the Unix epoch) `fallbackLookBack` before `instant`.
    static func notBefore(_ instant: ContinuousClock.Instant, on client: RedisClient) async throws -> UInt64 {
        let lookBack = UInt64(max(0, (instant.duration(to: .now) + fallbackLookBack).wholeMicroseconds))
        let now = try await client.serverMicroseconds()
        return now > lookBack ? now - lookBack : 0
    }

    /// Whether an input entry is `producer`'s with a tag below `tag`: every entry of it tagged
    /// `tag` or above, if in the log, comes after this one.
    static func precedes(tag: UInt64, producer: String) -> @Sendable (TaggedInputEntry) -> Bool {
        { entry in
            guard let text = entry.tag, let other = UInt64(text), other < tag else { return false }
            return (try? ClearingLogCodec.decodeProducer(entry.entry.payload).name) == producer
        }
    }

    /// Settles an inconclusive `append` as landed if none of its orders is marked any more
    /// (clearing answered them all); true if it did.
    ///
    /// Records all gone means the `AbandonedOrderSweeper` proved the entry absent and forgot
    /// its orders (the entry's producer stopped before this settled it): the entry only goes.
    func settledByClearing(_ append: UnknownAppend) async -> Bool {
        let forgotten: Bool
        do {
            let records = append.placements.isEmpty
                ? [] : try await client.pipeline(append.placements.map { ["HMGET", GatewayKeys.order($0.orderID), "u", OrderRecord.unsettledField] })
            let fields = records.map { $0.array ?? [] }
            guard fields.allSatisfy({ $0.count == 2 && $0[1].string == nil }) else { return false }
            forgotten = fields.allSatisfy { $0[0].string == nil }
            if forgotten {
                try await Self.forget([], unsettledField: append.field, on: client)
            } else {
                try await Self.settleAsLanded(append, on: client)
            }
        } catch {
            logger.warning("gateway.submit could not look at the marks of an inconclusive append: \(error)", metadata: metadata(append))
            return false
        }
        if forgotten {
            absentCount.increment()
            logger.warning("gateway.submit inconclusive append settled: its orders were forgotten as abandoned, so it never landed", metadata: metadata(append))
        } else {
            landedCount.increment()
            logger.warning("gateway.submit inconclusive append settled: clearing answered its orders, so it landed", metadata: metadata(append))
        }
        return true
    }

    /// Steps 2 and 3 for a recorded `append`, once: the verdict, or nil when Redis failed them
    /// (to be tried again).
    func settle(_ append: UnknownAppend) async -> Verdict? {
        let store = ReplicaLogStore(keys: .clearingPartition(append.partition), client: client)
        let verdict: Verdict
        do {
            let lastBefore = try await store.fenceTag(append.tag, producer: append.producer)
            if let lastBefore, lastBefore >= append.tag {
                let (found, complete) = try await store.landedInputs(
                    [(String(append.tag), Array(append.payload))], notBeforeMicroseconds: append.notBeforeMicroseconds,
                    precedes: Self.precedes(tag: append.tag, producer: append.producer))
                verdict = Verdict(found: !found.isEmpty, complete: complete)
            } else {
                verdict = .absent
            }
            switch verdict {
            case .landed:
                try await Self.settleAsLanded(append, on: client)
            case .absent:
                try await Self.forget(append.placements, unsettledField: append.field, on: client)
            case .inconclusive:
                break
            }
        } catch {
            logger.warning("gateway.submit could not settle an unsettled append: \(error)", metadata: metadata(append))
            return nil
        }
        switch verdict {
        case .landed:
            landedCount.increment()
            logger.warning("gateway.submit unsettled append settled: it is in the log, its orders stand", metadata: metadata(append))
        case .absent:
            absentCount.increment()
            logger.warning("gateway.submit unsettled append settled: it never landed, its orders are forgotten", metadata: metadata(append))
        case .inconclusive:
            inconclusiveCount.increment()
            logger.error(
                "gateway.submit unsettled append inconclusive: the input log was trimmed, or the search reached its bound, before it could conclude; its orders stay marked unsettled in \(Self.key)",
                metadata: metadata(append))
        }
        return verdict
    }

    private func metadata(_ append: UnknownAppend) -> Logger.Metadata {
        ["partition": "\(append.partition)", "tag": "\(append.tag)", "orders": "\(append.placements.map(\.orderID))"]
    }

    /// Removes `placements`' records, index entries, client order ids (each only if still
    /// that order's) and places in their worker ids' sets of marked orders, and
    /// `unsettledField` of `gw:unsettled` when not empty: orders that were never appended
    /// leave nothing a reader could take for them.
    static func forget(_ placements: [UnknownAppend.Placement], unsettledField: String = "", on client: RedisClient) async throws {
        _ = try await forgetScript.run(on: client, keys: [key] + placements.flatMap(forgetKeys), arguments: [unsettledField] + placements.map { String($0.orderID) })
    }

    /// Unmarks `placements` (their entry landed) and forgets `append`'s field of `gw:unsettled`.
    static func settleAsLanded(_ append: UnknownAppend, on client: RedisClient) async throws {
        let keys = [key] + append.placements.flatMap { [GatewayKeys.order($0.orderID), GatewayKeys.unsettledOrders(of: $0.orderID)] }
        _ = try await landedScript.run(on: client, keys: keys, arguments: [append.field, OrderRecord.unsettledField] + append.placements.map { String($0.orderID) })
    }

    /// The keys `forgetOrderFunction` takes for `placement`, in its order.
    static func forgetKeys(_ placement: UnknownAppend.Placement) -> [String] {
        [GatewayKeys.order(placement.orderID), GatewayKeys.userOrders(placement.userID), GatewayKeys.userOpenOrders(placement.userID),
         GatewayKeys.clientOrderIDs(placement.userID), GatewayKeys.unsettledOrders(of: placement.orderID)]
    }

    /// Lua: `forgetOrder(k, id)` removes order `id`'s record `KEYS[k]`, its entries in the
    /// user's orders `KEYS[k + 1]` and open orders `KEYS[k + 2]`, its client order id in
    /// `KEYS[k + 3]` (only if still this order's) and its place among its worker id's marked
    /// orders `KEYS[k + 4]` (`forgetKeys`).
    static let forgetOrderFunction = """
        local function forgetOrder(k, id)
          local client = redis.call('HGET', KEYS[k], 'c')
          if client and redis.call('HGET', KEYS[k + 3], client) == id then redis.call('HDEL', KEYS[k + 3], client) end
          redis.call('DEL', KEYS[k])
          redis.call('ZREM', KEYS[k + 1], id)
          redis.call('SREM', KEYS[k + 2], id)
          redis.call('SREM', KEYS[k + 4], id)
        end

        """

    /// KEYS: `gw:unsettled`, then per order its `forgetKeys`. ARGV: the unsettled field ('' for
    /// none), then the order ids.
    static let forgetScript = RedisScript(source: forgetOrderFunction + """
        for i = 2, #ARGV do forgetOrder(2 + (i - 2) * 5, ARGV[i]) end
        if ARGV[1] ~= '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
        return 0
        """)

    /// KEYS: `gw:unsettled`, then per order its record and its worker id's marked orders.
    /// ARGV: field, the records' unsettled field, then the order ids. Unmarks the records,
    /// forgets the entry.
    static let landedScript = RedisScript(source: """
        for i = 3, #ARGV do
          redis.call('HDEL', KEYS[2 * i - 4], ARGV[2])
          redis.call('SREM', KEYS[2 * i - 3], ARGV[i])
        end
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 0
        """)
}
