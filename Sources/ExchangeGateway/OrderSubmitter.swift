import ExchangeAccess
import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeRedis
import Foundation
import Logging
import Metrics
import Synchronization
import Tracing
import ExchangeReplication
import ExchangeTracing

/// Appends traders' places and cancels to their clearing partitions' input logs, batched:
/// whatever requests arrive while one append is in flight go together in the next, one input
/// entry per partition, all partitions in one round trip. `run()` (part of the gateway's
/// background work) does the appending; `submit` only queues and waits.
///
/// The instance appends as producer `gw-{worker}`, its worker id leased in Redis
/// (`WorkerLease`; no two live instances share one), which also makes its snowflake order ids
/// unique. Every append requires the lease (`ReplicaLogStore.AppendGuard`): once another
/// instance acquires the worker id, nothing of this one's is appended again. Each entry's
/// position (the producer's sequence clearing dedupes by) is also its append tag, and strictly
/// increases: it starts above both the clock (ms × 1024) and the last tag this producer left
/// in any partition log, so a restarted instance, or another taking over the worker id, never
/// goes back. A retried append is idempotent (the tag is skipped once in); a first append that
/// Redis skips means an earlier holder of the worker id left a higher tag, and fails; a retry
/// that Redis skips succeeds only if the log holds its entry (see `append`). An entry whose
/// outcome stays unknown fails its submissions with `outcomeUnknown` and goes to the
/// `AppendSettler`.
final class OrderSubmitter: Sendable {
    static let producerPrefix = "gw-"
    /// Commands per clearing input entry, at most.
    static let maximumEntryCommands = 256
    static let workerLeaseDuration = Duration.seconds(30)

    struct Submission: Sendable {
        var command: ClearingCommand
        var partition: PartitionID
    }

    private struct Pending {
        var submission: Submission
        var continuation: CheckedContinuation<Void, any Error>
        /// The `traceparent` of the submission's append span, when it is sampled.
        var traceParent: String?
    }

    private struct State {
        var pending: [Pending] = []
        /// `run()` ended: submissions fail at once.
        var isStopped = false
        var lastPosition: UInt64 = 0
        var ids = SnowflakeGenerator(worker: 0)
        /// Tags of entries whose outcome is unknown, per partition, not yet fenced: fenced
        /// before this producer's next append attempt (best effort: an append does not wait
        /// for it), so that the settler's first fence usually finds the last tag as the unknown
        /// attempt left it and proves an absent entry absent without a search (`AppendSettler`,
        /// step 2). Fenced later, the settler searches instead.
        var unfenced: [(partition: PartitionID, tag: UInt64)] = []
    }

    let client: RedisClient
    let settler: AppendSettler
    let sweeper: AbandonedOrderSweeper
    let worker: UInt16
    let producer: String
    let leaseToken: String
    /// The lease's generation at its acquisition (`WorkerLease`).
    let leaseGeneration: UInt64
    let logger: Logger
    private let state: Mutex<State>
    /// Wakes `run()` when a submission is queued (at most one wake-up waits).
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private init(
        client: RedisClient, settler: AppendSettler, sweeper: AbandonedOrderSweeper, worker: UInt16, leaseToken: String, leaseGeneration: UInt64,
        lastPosition: UInt64, logger: Logger
    ) {
        self.client = client
        self.settler = settler
        self.sweeper = sweeper
        self.worker = worker
        producer = Self.producerPrefix + String(worker)
        self.leaseToken = leaseToken
        self.leaseGeneration = leaseGeneration
        self.logger = logger
        state = Mutex(State(lastPosition: lastPosition, ids: SnowflakeGenerator(worker: worker)))
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Leases a free worker id and reads where its producer left off: its last tag in the
    /// `partitions` logs, its entries still to settle (tags a previous holder handed out
    /// that may not have landed: fenced here, best effort, before this holder appends), and
    /// the orders previous holders left marked (a snapshot for `sweeper`). Entries whose
    /// outcome stays unknown go to `settler`.
    static func start(
        client: RedisClient, partitionCount: Int, settler: AppendSettler, sweeper: AbandonedOrderSweeper, logger: Logger
    ) async throws -> OrderSubmitter {
        let token = UUID().uuidString
        for worker in 0...SnowflakeGenerator.maximumWorker {
            guard let generation = try await WorkerLease.acquire(worker, token: token, duration: workerLeaseDuration, on: client) else { continue }
            // Before anything is admitted under this lease: only earlier holders' orders.
            let abandoned = try await sweeper.snapshot(of: worker)
            sweeper.adopt(abandoned)
            let producer = producerPrefix + String(worker)
            // A previous holder's entries still to settle: fenced before this one appends (see `State.unfenced`).
            let recorded = try await settler.recordedTags(of: producer)
            _ = try? await ReplicaLogStore.fenceTags(recorded.map { (.clearingPartition($0.partition), $0.tag) }, producer: producer, on: client)
            var last = recorded.map(\.tag).max() ?? 0
            for partition in 0..<PartitionID(partitionCount) {
                let key = ReplicaLogKeys.clearingPartition(partition).lastTag(producer: producer)
                last = max(last, try await client.send(["GET", key]).string.flatMap { UInt64($0) } ?? 0)
            }
            logger.info("gateway.worker leased", metadata: ["worker.id": "\(worker)"])
            let submitter = OrderSubmitter(
                client: client, settler: settler, sweeper: sweeper, worker: worker, leaseToken: token, leaseGeneration: generation,
                lastPosition: last, logger: logger)
            // Its ids must not meet theirs, whatever the clocks: above the abandoned orders' (the
            // sweeper decides by order id) and the time of the last append (a tag is the appending
            // holder's clock, ms x 1024, or above).
            submitter.state.withLock { state in
                if let newest = abandoned.orders.max() { state.ids.issue(after: newest) }
                state.ids.issue(afterMilliseconds: last / 1_024)
            }
            return submitter
        }
        throw OrderSubmitterError.noFreeWorker
    }

    /// Renews the worker lease every third of its duration until cancelled. A lease that
    /// lapsed (Redis unreachable, or failing over, for longer than the lease) is taken back
    /// when nobody acquired it since; when someone did (another instance, or a sweep of
    /// abandoned orders), this throws `superseded`: this instance may no longer append, and
    /// another may issue the same ids, so it must stop (its service fails, the process exits
    /// and its supervisor starts it again on a free worker id).
    func keepLease(renewEvery interval: Duration = workerLeaseDuration / 3) async throws {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            do {
                switch try await WorkerLease.renew(worker, token: leaseToken, generation: leaseGeneration, duration: Self.workerLeaseDuration, on: client) {
                case .renewed:
                    continue
                case .takenBack:
                    logger.warning("gateway.worker lease lapsed and taken back", metadata: ["worker.id": "\(worker)"])
                case .lost:
                    logger.error("gateway.worker lease acquired by another instance", metadata: ["worker.id": "\(worker)"])
                    throw OrderSubmitterError.superseded
                }
            } catch let error as OrderSubmitterError {
                throw error
            } catch {
                logger.warning("gateway.worker lease renewal failed: \(error)")
            }
        }
    }

    /// Gives the worker id back (call it once nothing of this instance is to be appended any
    /// more: after `run()` returned): the next instance to start takes it at once, and its
    /// sweeper settles what this one left marked. A failure only leaves the lease to lapse.
    func releaseLease() async {
        do {
            try await WorkerLease.release(worker, token: leaseToken, on: client)
            logger.info("gateway.worker released", metadata: ["worker.id": "\(worker)"])
        } catch {
            logger.warning("gateway.worker could not be released (its lease lapses in \(Self.workerLeaseDuration)): \(error)", metadata: ["worker.id": "\(worker)"])
        }
    }

    /// A fresh order id (snowflake of this instance's worker).
    func nextOrderID() -> OrderID {
        let now = UInt64(WallClock.milliseconds())
        return state.withLock { $0.ids.next(nowMilliseconds: now) }
    }

    /// Appends `submission` durably (returns once Redis has it in the log) or throws.
    ///
    /// Traced as `order.append` (a child of the request's span); when sampled, its context
    /// goes into the entry's metadata, and the order's later stages are its children.
    func submit(_ submission: Submission) async throws {
        try await withSpan("order.append", ofKind: .producer) { span in
            // Without a tracer (or unsampled) the span records nothing: skip its attributes.
            let traceParent = span.isRecording ? TraceParent.sampled(in: span.context) : nil
            if traceParent != nil {
                if let orderID = submission.command.orderID { span.attributes["exchange.order_id"] = "\(orderID)" }
                span.attributes["exchange.partition"] = "\(submission.partition)"
            }
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let isStopped = state.withLock { state -> Bool in
                    if !state.isStopped {
                        state.pending.append(Pending(submission: submission, continuation: continuation, traceParent: traceParent))
                    }
                    return state.isStopped
                }
                if isStopped {
                    continuation.resume(throwing: CancellationError())
                } else {
                    wake.yield()
                }
            }
        }
    }

    /// Appends what is queued, batch after batch, until cancelled; then fails what is left,
    /// and has the settler record what it adopted.
    func run() async {
        for await _ in wakeups {
            await flushUntilEmpty()
        }
        let left = state.withLock { state -> [Pending] in
            state.isStopped = true
            defer { state.pending.removeAll() }
            return state.pending
        }
        for pending in left { pending.continuation.resume(throwing: CancellationError()) }
        await settler.recordBeforeStopping()
    }

    private func flushUntilEmpty() async {
        while true {
            let (batch, firstPosition) = state.withLock { state -> ([Pending], UInt64) in
                let batch = state.pending
                state.pending.removeAll()
                let now = UInt64(WallClock.milliseconds()) * 1_024
                return (batch, max(state.lastPosition + 1, now))
            }
            if batch.isEmpty { return }
            var byPartition: [PartitionID: [Pending]] = [:]
            for pending in batch { byPartition[pending.submission.partition, default: []].append(pending) }
            var inputs: [ReplicaLogStore.InputBatch] = []
            var groups: [(partition: PartitionID, position: UInt64, chunk: [Pending])] = []
            var position = firstPosition
            for partition in byPartition.keys.sorted() {
                for chunkStart in stride(from: 0, to: byPartition[partition]!.count, by: Self.maximumEntryCommands) {
                    let chunk = Array(byPartition[partition]![chunkStart..<min(chunkStart + Self.maximumEntryCommands, byPartition[partition]!.count)])
                    let input = ClearingInput(producer: ProducerID(producer), position: position, commands: chunk.map(\.submission.command))
                    let traces = EntryTraces(chunk.compactMap { pending in
                        guard let traceParent = pending.traceParent, let orderID = pending.submission.command.orderID else { return nil }
                        return EntryTraces.Trace(orderID: orderID, traceParent: traceParent)
                    })
                    inputs.append(.init(
                        keys: .clearingPartition(partition), payloads: [ClearingLogCodec.encode(input)], tags: [String(position)], traces: [traces]))
                    groups.append((partition, position, chunk))
                    position += 1
                }
            }
            state.withLock { $0.lastPosition = position - 1 }
            queueDepth.record(batch.count)
            let appendStarted = ContinuousClock.now
            let results = await append(inputs)
            appendTimer.record(duration: appendStarted.duration(to: .now))
            for ((partition, position, group), (input, result)) in zip(groups, zip(inputs, results)) {
                switch result {
                case .success: commandsAppended.increment(by: group.count)
                case .failure: commandsFailed.increment(by: group.count)
                }
                // Places of unknown outcome go to the settler (cancels leave nothing to settle).
                if case .failure(OrderSubmitterError.outcomeUnknown) = result {
                    let placements = group.compactMap { pending -> AppendSettler.UnknownAppend.Placement? in
                        guard case .place(let order) = pending.submission.command else { return nil }
                        return .init(orderID: order.orderID, userID: order.userID)
                    }
                    if !placements.isEmpty {
                        state.withLock { $0.unfenced.append((partition, position)) }
                        settler.adopt(
                            .init(partition: partition, producer: producer, tag: position, payload: Data(input.payloads[0]), placements: placements),
                            firstAttempt: appendStarted)
                    }
                }
                for pending in group {
                    switch result {
                    case .success: pending.continuation.resume()
                    case .failure(let error): pending.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    /// Metrics, per batch: commands (orders, cancels) appended to clearing logs or refused, the
    /// batch size (commands waiting when a flush began) and each batch's append round trip.
    private let commandsAppended = Counter(label: "exchange_gateway_commands_appended_total")
    private let commandsFailed = Counter(label: "exchange_gateway_commands_failed_total")
    private let queueDepth = Gauge(label: "exchange_gateway_submit_queue_depth")
    private let appendTimer = Metrics.Timer(label: "exchange_gateway_append_seconds")

    /// Appends `inputs` (one tagged payload each) in one round trip, retrying transient failures
    /// 20 times (tags make retries idempotent), each attempt after fencing what is unfenced
    /// (best effort). Per input: success, or why not.
    ///
    /// Each input is appended only while this instance holds its worker lease (checked per
    /// input). An input refused for want of it was not appended by that attempt: on the first
    /// attempt it is `superseded`; on a retry an earlier attempt may have got in, so it is
    /// `outcomeUnknown` (the settler fences and searches; that needs no lease).
    ///
    /// An input Redis skips (its tag not above the last this producer left) was skipped because
    /// another holder of this worker id appended a higher tag, or, on a retry, because an
    /// earlier attempt of this call got in before its answer was lost. Skipped on the first
    /// attempt it is `superseded`; on a retry the log is searched for the entry itself
    /// (`searchSkipped`; the skip means its tag is fenced, so the answer is final). An input
    /// whose every attempt failed, or whose search cannot conclude, is `outcomeUnknown`.
    private func append(_ inputs: [ReplicaLogStore.InputBatch]) async -> [Result<Void, any Error>] {
        let started = ContinuousClock.now
        let lease = ReplicaLogStore.AppendGuard(key: GatewayKeys.worker(worker), value: leaseToken)
        for attempt in 0..<20 {
            let replies: [Result<LogPosition, GuardedAppendError>]
            do {
                await fenceUnknownOutcomes()
                replies = try await ReplicaLogStore.appendInputs(inputs, producer: producer, guard: lease, on: client)
            } catch {
                logger.warning("gateway.submit append failed (attempt \(attempt + 1)): \(error)")
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            if replies.contains(.failure(.notHolder)) {
                logger.error("gateway.submit append refused: this instance does not hold its worker id's lease", metadata: ["worker.id": "\(worker)"])
            }
            var (results, toSearch) = Self.outcomes(of: replies, attempt: attempt)
            if !toSearch.isEmpty {
                for (index, landed) in await searchSkipped(toSearch.map { inputs[$0] }, since: started, attempts: 20 - attempt) {
                    results[toSearch[index]] = landed
                }
            }
            return results
        }
        return inputs.map { _ in .failure(OrderSubmitterError.outcomeUnknown) }
    }

    /// What one append attempt's `replies` (per input, in order) mean, as `append` describes:
    /// per input its result, and the inputs whose entries are to be searched for (skipped on a
    /// retry; their results are placeholders).
    static func outcomes(of replies: [Result<LogPosition, GuardedAppendError>], attempt: Int) -> (results: [Result<Void, any Error>], toSearch: [Int]) {
        var results = replies.map { _ in Result<Void, any Error>.success(()) }
        var toSearch: [Int] = []
        for (index, reply) in replies.enumerated() {
            switch reply {
            case .success(0) where attempt == 0, .failure(.notHolder) where attempt == 0:
                results[index] = .failure(OrderSubmitterError.superseded)
            case .success(0):
                toSearch.append(index)
            case .failure(.notHolder):
                results[index] = .failure(OrderSubmitterError.outcomeUnknown)
            case .success:
                break
            }
        }
        return (results, toSearch)
    }

    /// Fences the tags of entries whose outcome is unknown (`State.unfenced`), in one round
    /// trip; if that fails, they stay for the next attempt (a failing partition must not hold
    /// up appends to the others).
    private func fenceUnknownOutcomes() async {
        let unfenced = state.withLock { $0.unfenced }
        guard !unfenced.isEmpty else { return }
        do {
            _ = try await ReplicaLogStore.fenceTags(unfenced.map { (.clearingPartition($0.partition), $0.tag) }, producer: producer, on: client)
        } catch {
            logger.warning("gateway.submit could not fence the tags of unknown appends before appending: \(error)")
            return
        }
        // Only this task adds to the list, after an append: none came meanwhile.
        state.withLock { $0.unfenced.removeFirst(unfenced.count) }
    }

    /// Looks for `inputs`' entries in their logs, newest first down to this producer's own
    /// entry with a lower tag (or, failing one, `AppendSettler.fallbackLookBack` before
    /// `started` by Redis's clock), one search per log, retrying transient failures up to
    /// `attempts` times. Per input, by index: appended,
    /// `superseded` (not there), or `outcomeUnknown` (not found, but the log was trimmed within
    /// the range searched; or the search could not answer).
    func searchSkipped(_ inputs: [ReplicaLogStore.InputBatch], since started: ContinuousClock.Instant, attempts: Int) async -> [(Int, Result<Void, any Error>)] {
        for attempt in 0..<max(1, attempts) {
            do {
                let notBefore = try await AppendSettler.notBefore(started, on: client)
                var outcomes: [(Int, Result<Void, any Error>)] = []
                for indices in Dictionary(grouping: inputs.indices, by: { inputs[$0].keys.input }).values {
                    let store = ReplicaLogStore(keys: inputs[indices[0]].keys, client: client)
                    let lowest = indices.compactMap { UInt64(inputs[$0].tags![0]) }.min() ?? 0
                    let (found, complete) = try await store.landedInputs(
                        indices.map { (inputs[$0].tags![0], inputs[$0].payloads[0]) }, notBeforeMicroseconds: notBefore,
                        precedes: AppendSettler.precedes(tag: lowest, producer: producer))
                    for index in indices {
                        let outcome: Result<Void, any Error> = found.contains(inputs[index].tags![0])
                            ? .success(()) : .failure(complete ? OrderSubmitterError.superseded : OrderSubmitterError.outcomeUnknown)
                        outcomes.append((index, outcome))
                    }
                }
                return outcomes
            } catch {
                logger.warning("gateway.submit search for a skipped retry failed (attempt \(attempt + 1)): \(error)")
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        return inputs.indices.map { ($0, .failure(OrderSubmitterError.outcomeUnknown)) }
    }
}

enum OrderSubmitterError: Error, CustomStringConvertible {
    case noFreeWorker
    case superseded
    /// Whether the entry is in the log is not known yet: the `AppendSettler` settles it.
    case outcomeUnknown

    var description: String {
        switch self {
        case .noFreeWorker: "every gateway worker id (0...1023) is leased"
        case .superseded: "another holder of this worker id got ahead, or this instance no longer holds it"
        case .outcomeUnknown: "the clearing log append's outcome is unknown (it is being settled)"
        }
    }
}
