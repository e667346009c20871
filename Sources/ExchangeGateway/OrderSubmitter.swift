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
/// entry per partition, all partitions in one round trip.
///
/// A place comes with its admission (`RateLimiter`'s replay check, limits, halt check, client
/// order id claim and the order's record) and the entry's script (`placementScript`) runs
/// each place's admission and appends the entry with the commands admitted only: an order is
/// in its log exactly when its record and claim are in the view, and one round trip does both.
///
/// One append is in flight at a time, by one flusher. A `submit` that finds nobody flushing
/// becomes the flusher and appends its own submission from its own task (no hop to another
/// task and back: at a light load that is most of an order's wait); one that arrives during a
/// flush queues, and the flusher hands what queued meanwhile to `run()` (part of the gateway's
/// background work), which appends batch after batch until the queue is empty.
///
/// The instance appends as producer `gw-{worker}`, its worker id leased in Redis
/// (`gw:worker:{n}`, renewed; no two live instances share one), which also makes its
/// snowflake order ids unique. Each entry's position (the producer's sequence clearing
/// dedupes by) is also its append tag, and strictly increases: it starts above both the
/// clock (ms × 1024) and the last tag this producer left in any partition log, so a
/// restarted instance, or another taking over the worker id, never goes back. A retried
/// append is idempotent (the tag is skipped once in); a first append that Redis skips means
/// another holder of the worker id got ahead, and fails.
final class OrderSubmitter: Sendable {
    static let producerPrefix = "gw-"
    /// Commands per clearing input entry, at most.
    static let maximumEntryCommands = 256
    static let workerLeaseDuration = Duration.seconds(30)

    /// A place's admission: the keys and arguments of `RateLimiter.admissionFunction` with an
    /// order claim.
    struct Admission: Sendable {
        var keys: [String]
        var arguments: [String]
    }

    struct Submission: Sendable {
        var command: ClearingCommand
        var partition: PartitionID
        /// A place's admission, run in the same script as its append.
        var admission: Admission?
    }

    /// What became of a submission.
    enum Outcome: Sendable {
        /// In its log. `admission` is the admission's reply; nil without one, or when an
        /// earlier attempt of a retried batch got the entry in (that reply is lost).
        case appended(admission: RedisReply?)
        /// Not appended: the admission refused it, and its reply says why.
        case refused(admission: RedisReply)
        /// Not appended: the admission of a retried batch's earlier attempt refused it, and
        /// that reply (why) is lost.
        case refusedEarlier
    }

    /// KEYS: the input log's append keys (`ReplicaLogStore.inputAppendCall`), then each
    /// command's admission keys in turn (none for a command without one). ARGV: the entry's prefix
    /// (`ClearingLogCodec.encodeInParts`), tag, note and traces ('' for none); its command
    /// count; then per command: its admission's key and argument counts (0 and 0 for none),
    /// the arguments, and the command's bytes.
    ///
    /// If the tag is already in (a retried batch's first attempt got the entry in) it answers
    /// `{0, in...}`, per command 1 if it is in the entry (no admission, or its claim holds)
    /// and 0 if not. Else it admits each command with an admission and appends the entry with
    /// the commands admitted (claimed) and those without one; it answers `{first, reply...}`:
    /// the position appended (-1 if no command was kept: nothing appended) and per command its
    /// admission's reply, or 1 without one.
    static let placementScript = RedisScript(source: ReplicaLogStore.appendInputFunction + RateLimiter.admissionFunction + """
        local function varint(n)
          local bytes = {}
          while n >= 128 do
            bytes[#bytes + 1] = string.char(n % 128 + 128)
            n = math.floor(n / 128)
          end
          bytes[#bytes + 1] = string.char(n)
          return table.concat(bytes)
        end
        local alreadyIn = tonumber(ARGV[2]) <= tonumber(redis.call('GET', KEYS[3]) or '-1')
        local count = tonumber(ARGV[5])
        local kept, replies = {}, {}
        local index, keyIndex = 6, 4
        for c = 1, count do
          local keyCount, argumentCount = tonumber(ARGV[index]), tonumber(ARGV[index + 1])
          local keys, arguments = {}, {}
          for i = 0, keyCount - 1 do keys[i + 1] = KEYS[keyIndex + i] end
          for i = 0, argumentCount - 1 do arguments[i + 1] = ARGV[index + 2 + i] end
          local command = ARGV[index + 2 + argumentCount]
          if argumentCount == 0 then
            kept[#kept + 1] = command
            replies[c] = 1
          elseif alreadyIn then
            replies[c] = claimed(keys, arguments) and 1 or 0
          else
            local reply = admit(keys, arguments)
            if #reply == 5 and reply[5] == '' then kept[#kept + 1] = command end
            replies[c] = reply
          end
          keyIndex = keyIndex + keyCount
          index = index + 3 + argumentCount
        end
        if alreadyIn then return {0, unpack(replies)} end
        local first = -1
        if #kept > 0 then
          local payload = ARGV[1] .. varint(#kept) .. table.concat(kept)
          first = appendInput(KEYS[1], KEYS[2], KEYS[3], {payload, ARGV[2], ARGV[3], ARGV[4]}, 1)
        end
        return {first, unpack(replies)}
        """)

    private struct Pending {
        var submission: Submission
        /// Resumed with the outcome; nil for the flusher's own submission (its outcome is
        /// returned to it).
        var continuation: CheckedContinuation<Outcome, any Error>?
        /// The `traceparent` of the submission's append span, when it is sampled.
        var traceParent: String?
    }

    /// Who appends: at most one flusher at a time, so positions reach Redis in order.
    private enum Flusher {
        case none
        /// A submitting task, appending its own submission.
        case caller
        /// `run()`, woken to append what is queued.
        case runner
    }

    private struct State {
        /// Submissions waiting for the next batch. Invariant: empty while `flusher` is `.none`.
        var pending: [Pending] = []
        var flusher = Flusher.none
        /// `run()` ended: submissions fail at once.
        var isStopped = false
        var lastPosition: UInt64 = 0
        var ids = SnowflakeGenerator(worker: 0)
    }

    let client: RedisClient
    let worker: UInt16
    let producer: String
    let leaseToken: String
    let logger: Logger
    private let state: Mutex<State>
    /// Wakes `run()` when the flushing is handed to it (at most one wake-up waits).
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private init(client: RedisClient, worker: UInt16, leaseToken: String, lastPosition: UInt64, logger: Logger) {
        self.client = client
        self.worker = worker
        producer = Self.producerPrefix + String(worker)
        self.leaseToken = leaseToken
        self.logger = logger
        state = Mutex(State(lastPosition: lastPosition, ids: SnowflakeGenerator(worker: worker)))
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Leases a free worker id and reads where its producer left off in `partitions` logs.
    static func start(client: RedisClient, partitionCount: Int, logger: Logger) async throws -> OrderSubmitter {
        let token = UUID().uuidString
        for worker in 0...SnowflakeGenerator.maximumWorker {
            let reply = try await client.send([
                "SET", GatewayKeys.worker(worker), token, "NX", "PX", String(workerLeaseDuration.wholeMilliseconds),
            ])
            guard case .status = reply else { continue }
            var last: UInt64 = 0
            for partition in 0..<PartitionID(partitionCount) {
                let key = ReplicaLogKeys.clearingPartition(partition).lastTag(producer: producerPrefix + String(worker))
                last = max(last, try await client.send(["GET", key]).string.flatMap { UInt64($0) } ?? 0)
            }
            logger.info("gateway.worker leased", metadata: ["worker.id": "\(worker)"])
            return OrderSubmitter(client: client, worker: worker, leaseToken: token, lastPosition: last, logger: logger)
        }
        throw OrderSubmitterError.noFreeWorker
    }

    /// Renews the worker lease every third of its duration until cancelled. A lease that
    /// lapsed (Redis unreachable, or failing over, for longer than the lease) is taken back
    /// when nobody holds it; when another instance does, this throws `superseded`: that
    /// instance may issue the same ids, so this one must stop (its service fails, the process
    /// exits and its supervisor starts it again on a free worker id).
    func keepLease(renewEvery interval: Duration = workerLeaseDuration / 3) async throws {
        let renew = RedisScript(source: """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
            return -1
            """)
        let key = GatewayKeys.worker(worker)
        let milliseconds = String(Self.workerLeaseDuration.wholeMilliseconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            do {
                guard try await renew.run(on: client, keys: [key], arguments: [leaseToken, milliseconds]).integer == -1 else { continue }
                guard case .status = try await client.send(["SET", key, leaseToken, "NX", "PX", milliseconds]) else {
                    logger.error("gateway.worker lease taken by another instance", metadata: ["worker.id": "\(worker)"])
                    throw OrderSubmitterError.superseded
                }
                logger.warning("gateway.worker lease lapsed and taken back", metadata: ["worker.id": "\(worker)"])
            } catch let error as OrderSubmitterError {
                throw error
            } catch {
                logger.warning("gateway.worker lease renewal failed: \(error)")
            }
        }
    }

    /// A fresh order id (snowflake of this instance's worker).
    func nextOrderID() -> OrderID {
        let now = UInt64(WallClock.milliseconds())
        return state.withLock { $0.ids.next(nowMilliseconds: now) }
    }

    /// Appends `submission` durably (returns once Redis has it in the log, or its admission
    /// refused it) or throws: then it may or may not be in (a connection lost for the whole
    /// retry time).
    ///
    /// Traced as `order.append` (a child of the request's span); when sampled, its context
    /// goes into the entry's metadata, and the order's later stages are its children.
    @discardableResult
    func submit(_ submission: Submission) async throws -> Outcome {
        try await withSpan("order.append", ofKind: .producer) { span in
            // Without a tracer (or unsampled) the span records nothing: skip its attributes.
            let traceParent = span.isRecording ? TraceParent.sampled(in: span.context) : nil
            if traceParent != nil {
                if let orderID = submission.command.orderID { span.attributes["exchange.order_id"] = "\(orderID)" }
                span.attributes["exchange.partition"] = "\(submission.partition)"
            }
            let leads = state.withLock { state -> Bool in
                guard state.flusher == .none, !state.isStopped else { return false }
                state.flusher = .caller
                return true
            }
            if leads {
                // A batch with a submission of its own answers it: never nil.
                let result = await flush(own: Pending(submission: submission, continuation: nil, traceParent: traceParent))!
                // What queued during the append goes on in `run()`; this request answers now.
                let handsOver = state.withLock { state -> Bool in
                    state.flusher = state.pending.isEmpty ? .none : .runner
                    return state.flusher == .runner
                }
                if handsOver { wake.yield() }
                return try result.get()
            }
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
                let (isStopped, wakesRunner) = state.withLock { state -> (Bool, Bool) in
                    guard !state.isStopped else { return (true, false) }
                    state.pending.append(Pending(submission: submission, continuation: continuation, traceParent: traceParent))
                    // The flusher finished between the two locks: `run()` takes this one.
                    guard state.flusher == .none else { return (false, false) }
                    state.flusher = .runner
                    return (false, true)
                }
                if isStopped {
                    continuation.resume(throwing: CancellationError())
                } else if wakesRunner {
                    wake.yield()
                }
            }
        }
    }

    /// Appends what is handed to it, batch after batch, until cancelled; then fails what is left.
    func run() async {
        for await _ in wakeups {
            guard state.withLock({ $0.flusher == .runner }) else { continue }
            while true {
                await flush(own: nil)
                let isDone = state.withLock { state -> Bool in
                    guard state.pending.isEmpty else { return false }
                    state.flusher = .none
                    return true
                }
                if isDone { break }
            }
        }
        let left = state.withLock { state -> [Pending] in
            state.isStopped = true
            defer { state.pending.removeAll() }
            return state.pending
        }
        for pending in left { pending.continuation?.resume(throwing: CancellationError()) }
    }

    /// Appends `own` (if any) and everything queued as one batch, resuming the queued
    /// submissions; returns `own`'s outcome. Only the flusher calls it.
    @discardableResult
    private func flush(own: Pending?) async -> Result<Outcome, any Error>? {
        let (queued, firstPosition) = state.withLock { state -> ([Pending], UInt64) in
            let queued = state.pending
            state.pending.removeAll()
            let now = UInt64(WallClock.milliseconds()) * 1_024
            return (queued, max(state.lastPosition + 1, now))
        }
        let batch = (own.map { [$0] } ?? []) + queued
        if batch.isEmpty { return nil }
        var byPartition: [PartitionID: [Pending]] = [:]
        for pending in batch { byPartition[pending.submission.partition, default: []].append(pending) }
        var calls: [EntryCall] = []
        var position = firstPosition
        for partition in byPartition.keys.sorted() {
            for chunkStart in stride(from: 0, to: byPartition[partition]!.count, by: Self.maximumEntryCommands) {
                let chunk = Array(byPartition[partition]![chunkStart..<min(chunkStart + Self.maximumEntryCommands, byPartition[partition]!.count)])
                calls.append(EntryCall(group: chunk, partition: partition, position: position, producer: producer))
                position += 1
            }
        }
        state.withLock { $0.lastPosition = position - 1 }
        queueDepth.record(batch.count)
        let appendStarted = ContinuousClock.now
        let results = await append(calls)
        appendTimer.record(duration: appendStarted.duration(to: .now))
        var ownResult: Result<Outcome, any Error>?
        for (call, result) in zip(calls, results) {
            for (pending, outcome) in zip(call.group, result.outcomes(count: call.group.count)) {
                switch outcome {
                case .success(.appended): commandsAppended.increment()
                case .success(.refused), .success(.refusedEarlier): commandsRefused.increment()
                case .failure: commandsFailed.increment()
                }
                guard let continuation = pending.continuation else {
                    ownResult = outcome
                    continue
                }
                continuation.resume(with: outcome)
            }
        }
        return ownResult
    }

    /// `placementScript`'s keys and arguments for the entry of `submissions` (in order, all of
    /// `partition`) at `position` (its tag) by `producer`.
    static func placementCall(
        _ submissions: [Submission], traces: EntryTraces, partition: PartitionID, position: UInt64, producer: String
    ) -> (keys: [String], arguments: [[UInt8]]) {
        let input = ClearingInput(producer: ProducerID(producer), position: position, commands: submissions.map(\.command))
        let (prefix, commands) = ClearingLogCodec.encodeInParts(input)
        let append = ReplicaLogStore.inputAppendCall(
            .init(keys: .clearingPartition(partition), payloads: [prefix], tags: [String(position)], traces: [traces]), producer: producer)
        var keys = append.keys
        // The append's quadruple with the prefix in place of the payload, then the commands.
        var arguments = append.arguments + [Array(String(submissions.count).utf8)]
        for (submission, command) in zip(submissions, commands) {
            let admission = submission.admission
            keys += admission?.keys ?? []
            arguments.append(Array(String(admission?.keys.count ?? 0).utf8))
            arguments.append(Array(String(admission?.arguments.count ?? 0).utf8))
            arguments += admission?.arguments.map { Array($0.utf8) } ?? []
            arguments.append(command)
        }
        return (keys, arguments)
    }

    /// One input entry of a batch: its submissions (in order, of one partition) and the
    /// placement script's keys and arguments for it.
    private struct EntryCall {
        var group: [Pending]
        /// The entry's position: its tag.
        var position: UInt64
        var keys: [String]
        var arguments: [[UInt8]]

        /// The producer's last tag in the entry's log (`keys[2]`, as `inputAppendCall` names it).
        var lastTagKey: String { keys[2] }

        init(group: [Pending], partition: PartitionID, position: UInt64, producer: String) {
            self.group = group
            self.position = position
            let traces = EntryTraces(group.compactMap { pending in
                guard let traceParent = pending.traceParent, let orderID = pending.submission.command.orderID else { return nil }
                return EntryTraces.Trace(orderID: orderID, traceParent: traceParent)
            })
            (keys, arguments) = OrderSubmitter.placementCall(
                group.map(\.submission), traces: traces, partition: partition, position: position, producer: producer)
        }

        /// Per submission, the outcome `reply` (of attempt `attempt`) stands for.
        func outcomes(_ reply: RedisReply, attempt: Int) -> Result<[Outcome], any Error> {
            guard let values = reply.array, values.count == group.count + 1, let first = values[0].integer else {
                if case .error(let message) = reply { return .failure(RedisError.server(message)) }
                return .failure(RedisError.unexpectedReply("placement \(reply)"))
            }
            if first == 0 {
                // Already in on the first attempt: another holder of this worker id appended a
                // higher tag. On a retry: the earlier attempt got the entry in.
                guard attempt > 0 else { return .failure(OrderSubmitterError.superseded) }
                return .success(values.dropFirst().map { $0.integer == 1 ? .appended(admission: nil) : .refusedEarlier })
            }
            return .success(zip(group, values.dropFirst()).map { pending, reply in
                guard pending.submission.admission != nil else { return .appended(admission: nil) }
                if first > 0, reply.array?.count == 5, reply.array?[4].string == "" { return .appended(admission: reply) }
                // A replay on a retry: the earlier attempt's admission refused it (that
                // remembered the signature); why is lost.
                return attempt > 0 && RateLimiter.isReplay(reply) ? .refusedEarlier : .refused(admission: reply)
            })
        }
    }

    /// Metrics: commands (orders, cancels) appended to clearing logs, refused by their admission
    /// or failed (unknown: the append did not answer); per batch, its size (commands waiting
    /// when a flush began) and its round trip.
    private let commandsAppended = Counter(label: "exchange_gateway_commands_appended_total")
    private let commandsFailed = Counter(label: "exchange_gateway_commands_failed_total")
    private let commandsRefused = Counter(label: "exchange_gateway_commands_refused_total")
    private let queueDepth = Gauge(label: "exchange_gateway_submit_queue_depth")
    private let appendTimer = Metrics.Timer(label: "exchange_gateway_append_seconds")

    /// Runs `calls` in one round trip, retrying transient failures for about two seconds
    /// (tags make retries idempotent). Per call: its submissions' outcomes, or why not.
    private func append(_ calls: [EntryCall]) async -> [Result<[Outcome], any Error>] {
        var lastError: any Error = OrderSubmitterError.appendFailed
        for attempt in 0..<20 {
            do {
                let replies = try await Self.placementScript.run(on: client, calls: calls.map { ($0.keys, $0.arguments) })
                // A reply saying a script did not run (Redis loading its data, or busy with a
                // long script) is retried like a lost connection.
                let transient = replies.lazy.compactMap { reply -> RedisError? in
                    guard case .error(let message) = reply, RedisError.server(message).isTransient else { return nil }
                    return RedisError.server(message)
                }.first
                if let transient { throw transient }
                for (call, reply) in zip(calls, replies) {
                    if case .error = reply { await discardAdmissions(of: call) }
                }
                return zip(calls, replies).map { call, reply in call.outcomes(reply, attempt: attempt) }
            } catch {
                lastError = error
                logger.warning("gateway.submit append failed (attempt \(attempt + 1)): \(error)")
                // Not cut short if the flushing request's task is cancelled: the batch carries
                // other requests' submissions too.
                await Task.detached { try? await Task.sleep(for: .milliseconds(100)) }.value
            }
        }
        return calls.map { _ in .failure(lastError) }
    }
}

extension OrderSubmitter {
    /// After `call`'s script failed part way (an error reply: it ran, and Redis does not roll a
    /// script back), the places it admitted before failing hold claims and records while not
    /// in the log, unless the entry got in: undoes them when the producer's last tag is still
    /// below the entry's. (A script failing after its append but before it sets the tag, which
    /// only running out of memory between the two could do, is not told apart.)
    private func discardAdmissions(of call: EntryCall) async {
        let admissions = call.group.compactMap(\.submission.admission)
        guard !admissions.isEmpty else { return }
        do {
            let lastTag = try await client.send(["GET", call.lastTagKey]).string.flatMap { UInt64($0) } ?? 0
            guard lastTag < call.position else { return }
            let undone = try await RateLimiter.unclaimScript.run(
                on: client, calls: admissions.map { ($0.keys, $0.arguments.map { Array($0.utf8) }) })
            logger.error("gateway.submit entry script failed: undid \(undone.filter { $0.integer == 1 }.count) admitted orders not in the log")
        } catch {
            logger.error("gateway.submit entry script failed and its admissions could not be checked: \(error)")
        }
    }
}

extension Result<[OrderSubmitter.Outcome], any Error> {
    /// Per submission of an entry of `count`: its outcome, or the entry's failure.
    func outcomes(count: Int) -> [Result<OrderSubmitter.Outcome, any Error>] {
        switch self {
        case .success(let outcomes): outcomes.map { .success($0) }
        case .failure(let error): Array(repeating: .failure(error), count: count)
        }
    }
}

enum OrderSubmitterError: Error, CustomStringConvertible {
    case noFreeWorker
    case superseded
    case appendFailed

    var description: String {
        switch self {
        case .noFreeWorker: "every gateway worker id (0...1023) is leased"
        case .superseded: "another gateway instance holds this worker id"
        case .appendFailed: "the clearing log append failed"
        }
    }
}
