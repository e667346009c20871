import CAffinity
import ExchangeCore
import ExchangeRedis
import ExchangeReplication
import ExchangeSnapshots
import ExchangeThreads
import Foundation
import Logging
import CoreMetrics
import ExchangeTracing
import Metrics
import Tracing

/// Runs one replica of a replicated state machine against its Redis logs: executes the
/// actions of `ReplicaStateMachine` (read and apply, fenced appends, lease, snapshots,
/// reload) and feeds the results back as facts. Matching shards and clearing partitions
/// use it unchanged; only `Machine` differs.
///
/// One task runs `run()`; cancelling it stops the replica where it stands, as a crash would
/// (nothing is flushed: the protocol must not need it).
///
/// The actor runs on a `ConnectionThread`, and so does every nonisolated call of its loop:
/// with clients owned by the same thread (`RedisClient(configuration:ownedBy:)`), a step reads,
/// forwards and appends without a thread hop; only the state machine's own thread is handed
/// work. Snapshots are compressed and written off it, on the global executor.
public actor ReplicaRuntime<Machine: ReplicatedStateMachine> {
    public struct Configuration: Sendable {
        public var name: String
        public var protocolConfiguration: ReplicaStateMachine.Configuration
        public var snapshotDirectory: String
        /// Input entries read and applied per step, at most.
        public var readBatchEntries: Int
        /// Payload bytes read and applied per step, about: a step reads at most this many bytes'
        /// worth of entries at the recent average entry size (at least one entry). A step
        /// holds the loop, so it bounds how long lease renewals wait behind a backlog: 1,024
        /// entries of 256 commands took most of a 300 ms lease, and standbys took over.
        public var readBatchBytes: Int
        /// How often the protocol is ticked (lease renewal, polling), also while busy.
        public var tickInterval: Duration
        /// Pause when there is nothing to do, for a replica without a `waitClient` (with one,
        /// primaries and standbys wait on Redis instead: see `idle()`).
        public var idleSleep: Duration
        /// Snapshot files kept; older ones are deleted after a new one is durable.
        public var keptSnapshots: Int
        /// How often the replica publishes its `ReplicaStatus` (valid for three intervals).
        public var statusInterval: Duration
        /// A standby that found new entries in its last step waits this long before the next,
        /// so it follows a busy primary in batches instead of waking for every output it
        /// appends (CPU the primaries need, on a shared host); an idle standby waits for the
        /// next output instead. It only delays the standby: failover catches up that much more.
        public var standbyFollowInterval: Duration
        /// The CPU the state machine's thread is pinned to (Linux), or nil for none.
        public var cpu: Int?
        /// While this replica leads (catching up or primary), its state machine's thread and its
        /// loop's thread run under `SCHED_FIFO` at this priority (1...99, Linux), so a wake-up
        /// preempts ordinary work on a shared host instead of queueing behind it; back to normal
        /// when it steps down. Nil: always normal. Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO);
        /// without it the replica logs the refusal and runs normally. Both threads block between
        /// steps, and the kernel's real-time throttling keeps a share of each CPU for others.
        public var realtimePriority: Int32?
        /// How the primary trims its logs after each published snapshot (`LogTrimPlan`), or nil
        /// to keep them whole (the default: `collect` and a full replay need the whole log).
        public var trimming: LogTrimming?
        /// Dimensions of this replica's metrics (swift-metrics): [("shard", "0"), ("replica", "a")].
        public var metricDimensions: [(String, String)] = []

        public init(
            name: String, protocolConfiguration: ReplicaStateMachine.Configuration, snapshotDirectory: String,
            readBatchEntries: Int = 1_024, readBatchBytes: Int = 512 << 10, tickInterval: Duration = .milliseconds(10),
            idleSleep: Duration = .milliseconds(1), standbyFollowInterval: Duration = .milliseconds(5),
            keptSnapshots: Int = 3, statusInterval: Duration = .milliseconds(250), cpu: Int? = nil,
            realtimePriority: Int32? = nil, trimming: LogTrimming? = nil
        ) {
            self.name = name
            self.protocolConfiguration = protocolConfiguration
            self.snapshotDirectory = snapshotDirectory
            self.readBatchEntries = readBatchEntries
            self.readBatchBytes = readBatchBytes
            self.tickInterval = tickInterval
            self.idleSleep = idleSleep
            self.standbyFollowInterval = standbyFollowInterval
            self.keptSnapshots = keptSnapshots
            self.statusInterval = statusInterval
            self.cpu = cpu
            self.realtimePriority = realtimePriority
            self.trimming = trimming
        }
    }

    public let configuration: Configuration
    /// The thread this actor and its loop run on.
    private let thread: ConnectionThread
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }
    private let store: ReplicaLogStore
    /// A second connection for `XREAD BLOCK`: a primary reads with it, so it wakes as soon as
    /// input arrives and needs one round trip per batch.
    private let waitClient: RedisClient?
    /// Carries outputs on to other logs before they are appended (primary only).
    private let forwarder: (any OutputForwarder)?
    private var protocolState: ReplicaStateMachine
    /// The state machine, on its own thread (pinned with `Configuration.cpu`).
    private let machine: MachineThread<Machine>
    /// Outputs of applied inputs not yet appended (primary only), by position.
    private var pendingOutputs: [EmittedOutput] = []
    /// Input entries read with the last append (primary only): the next read starts with them.
    private var prefetchedInput: [InputEntry] = []
    private let origin = ContinuousClock.now
    private var lastTick = Duration.zero
    private var lastStatus = Duration.zero
    /// The applied position at the previous status report (idleness test for digests).
    private var lastStatusPosition: LogPosition = 0
    /// The last digest published, and the position it was taken at.
    private var digest: UInt64?
    private var digestPosition: LogPosition?
    public private(set) var lastSnapshotPosition: LogPosition = 0
    private var pausedUntil = Duration.zero
    /// Where the runtime reports role changes and failures (injected; silent by default).
    private let logger: Logger
    private let onMetrics: @Sendable (Metrics) -> Void
    private var outputsAppended: UInt64 = 0
    /// Appends Redis's replicas did not acknowledge in time (see `ReplicaReport`).
    public private(set) var unacknowledgedAppends: UInt64 = 0
    /// Recent average input entry size in bytes (a moving average over reads, each read's
    /// share capped), for `readBatchBytes`.
    private var averageEntryBytes = 64
    private var lastSnapshotAt: Duration?
    private var lastSnapshotDuration: Duration = .zero
    /// Steps that applied entries (any role), each timed in `exchange_replica_apply_seconds`:
    /// the state machine's time, hops to its thread and back included.
    public private(set) var applySteps: UInt64 = 0
    /// A primary's steps that forwarded and appended outputs, each timed in
    /// `exchange_replica_append_seconds` (the round trips).
    public private(set) var appendSteps: UInt64 = 0
    private let applyTimer: CoreMetrics.Timer
    private let appendTimer: CoreMetrics.Timer

    /// What the replica reports, every status interval.
    public typealias Metrics = ReplicaReport

    /// - Parameter thread: where the loop runs; pass the thread that owns the clients of `store`,
    ///   `waitClient` and `forwarder`, if they are owned (a new thread by default).
    public init(
        configuration: Configuration, thread: ConnectionThread? = nil, store: ReplicaLogStore, waitClient: RedisClient? = nil,
        forwarder: (any OutputForwarder)? = nil,
        logger: Logger = Logger(label: "exchange.replica", factory: { _ in SwiftLogNoOpLogHandler() }), onMetrics: @escaping @Sendable (Metrics) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.thread = thread ?? ConnectionThread(name: "replica loop \(configuration.name)")
        self.store = store
        self.waitClient = waitClient
        self.forwarder = forwarder
        machine = MachineThread(name: "replica \(configuration.name)", cpu: configuration.cpu)
        self.logger = logger
        self.onMetrics = onMetrics
        applyTimer = CoreMetrics.Timer(label: "exchange_replica_apply_seconds", dimensions: configuration.metricDimensions)
        appendTimer = CoreMetrics.Timer(label: "exchange_replica_append_seconds", dimensions: configuration.metricDimensions)
        protocolState = ReplicaStateMachine(name: configuration.name, configuration: configuration.protocolConfiguration)
    }

    /// A runtime wired as `exchange matcher` and `exchange clearing` run one: its loop's thread
    /// owns two connections to `endpoint`, one for its requests and one to wait on with
    /// `XREAD BLOCK`, so a step reads, forwards and appends without a thread hop. `forwarder`
    /// is built on the first connection.
    ///
    /// A write waits for Redis's replicas (`WAIT`, with `acknowledgingReplicas`) at most a
    /// third of a renewal interval: the wait holds the loop, and so the renewals, and one step
    /// may wait up to three times (forwards, a taken-over book, the outputs); the lease must
    /// outlast replicas that stall (the append is then tried again, `appendUnacknowledged`).
    public init(
        configuration: Configuration, endpoint: RedisEndpoint, keys: ReplicaLogKeys,
        forwarder: ((RedisClient) -> any OutputForwarder)? = nil,
        logger: Logger = Logger(label: "exchange.replica", factory: { _ in SwiftLogNoOpLogHandler() }), onMetrics: @escaping @Sendable (Metrics) -> Void = { _ in }
    ) {
        let thread = ConnectionThread(name: "replica loop \(configuration.name)")
        let redis = RedisClient.Configuration(
            endpoint: endpoint, replicaAcknowledgementTimeout: min(.milliseconds(500), configuration.protocolConfiguration.renewalInterval / 3))
        let client = RedisClient(configuration: redis, ownedBy: thread)
        self.init(
            configuration: configuration, thread: thread, store: ReplicaLogStore(keys: keys, client: client),
            waitClient: RedisClient(configuration: redis, ownedBy: thread), forwarder: forwarder?(client),
            logger: logger, onMetrics: onMetrics)
    }

    // MARK: Observation (tests, metrics)

    public var role: ReplicaStateMachine.Role { protocolState.role }
    public var appliedPosition: LogPosition { protocolState.appliedPosition }
    public var epoch: Epoch { protocolState.epoch }
    /// Why the replica last stopped leading, and whether it kept its state (nil if it never led).
    public var lastStepDown: (reason: ReplicaStateMachine.StepDown, keptState: Bool)? { protocolState.lastStepDown }
    public var stateDigest: UInt64 { get async { await machine.digest() } }

    /// Stops acting for `duration` (as SIGSTOP would): no ticks, no renewals, no reads.
    public func pause(for duration: Duration) { pausedUntil = now + duration }

    private var now: Duration { origin.duration(to: .now) }

    // MARK: The loop

    /// Protocol actions waiting to run: the loop's, and those of snapshots finishing on their tasks.
    private var queuedActions: [ReplicaAction] = []

    /// Recovers from the newest valid snapshot, then follows the protocol until cancelled.
    ///
    /// Snapshots are written on child tasks from a copy of the state (a value), so the loop
    /// keeps applying and renewing the lease while zstd and fsync run.
    public func run() async throws {
        defer { machine.close() }
        try await withTaskExecutorPreference(thread) {
            try await withThrowingTaskGroup(of: Void.self) { snapshots in
                queuedActions = [await recover()]
                try await loop(snapshots: &snapshots)
                snapshots.cancelAll()
            }
        }
    }

    /// The real-time priority the replica's threads run at now (0: normal).
    private var currentPriority: Int32 = 0

    /// Raises the threads to `configuration.realtimePriority` while leading, lowers them after.
    private func followRoleWithPriority() async {
        guard let wanted = configuration.realtimePriority else { return }
        let leading = protocolState.role == .primary || protocolState.role == .catchingUp
        let priority = leading ? wanted : 0
        guard priority != currentPriority else { return }
        precondition(thread.isCurrent, "the runtime runs on its connection thread")
        let loopResult = exchange_set_current_thread_realtime(priority)
        let machineResult = await machine.setRealtimePriority(priority)
        currentPriority = priority
        for code in [loopResult, machineResult] where code != 0 {
            logger.warning("real-time priority \(priority) refused: \(String(cString: strerror(code))); running normally")
        }
    }

    /// Whether the replica held the lease (primary or catching up) at the last loop turn.
    private var wasLeading = false
    /// Step-downs of this process by `StepDown.kind`.
    private var stepDowns: [String: UInt64] = [:]

    /// Once per step-down: logs that the replica stopped leading and why (a primary that loses
    /// its lease outside a failover drill is something an operator looks into), and, when it
    /// kept its state, drops the input prefetched for the next primary step (a leader's only).
    private func followStepDown() {
        let leading = protocolState.role == .primary || protocolState.role == .catchingUp
        defer { wasLeading = leading }
        guard wasLeading, !leading, let stepDown = protocolState.lastStepDown else { return }
        stepDowns[stepDown.reason.kind, default: 0] += 1
        logger.warning(
            "stepped down from epoch \(protocolState.epochHeld): \(stepDown.reason); \(stepDown.keptState ? "kept its state as standby" : "reloading")")
        if stepDown.keptState {
            precondition(pendingOutputs.isEmpty, "a replica keeps its state only with every output appended")
            prefetchedInput.removeAll()
        }
    }

    private func loop(snapshots: inout ThrowingTaskGroup<Void, any Error>) async throws {
        defer { if currentPriority != 0 { _ = exchange_set_current_thread_realtime(0) } }
        while !Task.isCancelled {
            followStepDown()
            await followRoleWithPriority()
            if now < pausedUntil {
                try await Task.sleep(for: pausedUntil - now)
                continue
            }
            if now - lastStatus >= configuration.statusInterval {
                lastStatus = now
                try await publishStatus()
            }
            if now - lastTick >= configuration.tickInterval {
                lastTick = now
                queuedActions.append(protocolState.tick(now: now))
            }
            guard !queuedActions.isEmpty else {
                try await idle()
                queuedActions.append(protocolState.tick(now: now))
                lastTick = now
                continue
            }
            let action = queuedActions.removeFirst()
            if case .writeSnapshot(let position) = action {
                let state = await machine.copy()
                if state.isSnapshotReady {
                    startSnapshot(at: position, state: state, in: &snapshots)
                } else {
                    queuedActions.append(protocolState.snapshotFailed(now: now))
                }
            } else if let next = try await perform(action) {
                queuedActions.append(next)
            }
        }
    }

    /// When a standby last came out of `idle()`, and its applied position then.
    private var lastStandbyWake: (at: Duration, applied: LogPosition)?

    /// Waits before the next tick when nothing is queued. A primary with a `waitClient` has
    /// already waited for input in its last read. A standby with one that applied entries since
    /// it last woke follows in steps of `standbyFollowInterval`; otherwise it waits for the
    /// primary's next output, up to a tick, instead of polling, so an idle standby costs no CPU.
    /// (An output appended between its last observation and this wait is seen at the next
    /// tick.) Anyone else pauses `idleSleep`.
    private func idle() async throws {
        guard let waitClient else { return try await Task.sleep(for: configuration.idleSleep) }
        switch protocolState.role {
        case .primary:
            return
        case .standby:
            defer { lastStandbyWake = (now, protocolState.appliedPosition) }
            if let last = lastStandbyWake, protocolState.appliedPosition > last.applied {
                let next = last.at + configuration.standbyFollowInterval
                if next > now { try await Task.sleep(for: next - now) }
                return
            }
            do {
                _ = try await store.awaitNextOutput(block: configuration.tickInterval, on: waitClient)
            } catch let error as RedisError {
                logger.warning("waiting for output failed: \(error)")
                try await Task.sleep(for: configuration.tickInterval)
            }
        case .recovering, .candidate, .catchingUp, .fenced:
            try await Task.sleep(for: configuration.idleSleep)
        }
    }

    /// Writes the state at `position` on a child task; the result comes back as a protocol fact.
    private func startSnapshot(at position: LogPosition, state: Machine, in snapshots: inout ThrowingTaskGroup<Void, any Error>) {
        let path = snapshotPath(position)
        let directory = configuration.snapshotDirectory
        let publishes = protocolState.role == .primary
        let trimming = configuration.trimming
        let logger = self.logger
        let store = self.store
        let started = now
        // Compression and fsync take seconds for a big state: not on the loop's thread.
        snapshots.addTask(executorPreference: globalConcurrentExecutor) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try SnapshotFile.write(to: path) { sink in
                    try sink.writeUInt64(position)
                    try state.writeSnapshot(to: &sink)
                }
                if publishes {
                    // New replicas bootstrap from it without touching the primary's files.
                    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                    try await store.publishSnapshot(at: position, bytes: bytes)
                    if let trimming {
                        let plan = try await store.trim(published: position, required: trimming.requiredConsumers, retention: trimming.outputRetention)
                        logger.debug("trimmed", metadata: ["input.through": "\(plan.inputThrough)", "output.below": "\(plan.outputBelow.map(String.init(describing:)) ?? "-")"])
                    }
                }
                await self.snapshotFinished(at: position, started: started, error: nil)
            } catch {
                await self.snapshotFinished(at: position, started: started, error: error)
            }
        }
    }

    private func snapshotFinished(at position: LogPosition, started: Duration, error: (any Error)?) {
        if let error {
            logger.warning("snapshot at \(position) failed: \(error)")
            queuedActions.append(protocolState.snapshotFailed(now: now))
            return
        }
        lastSnapshotDuration = now - started
        lastSnapshotAt = now
        lastSnapshotPosition = max(lastSnapshotPosition, position)
        for stale in snapshotFiles().dropFirst(configuration.keptSnapshots) {
            try? FileManager.default.removeItem(atPath: stale.path)
        }
        queuedActions.append(protocolState.snapshotWritten(at: position, now: now))
    }

    /// Publishes this replica's status; a failure only costs one report. Throws
    /// `ReplicaRuntimeError.inputLogLost` when the log is shorter than what was applied.
    private func publishStatus() async throws {
        do {
            let length = try await store.inputLength()
            // Positions are never reused: a log that ends before what this replica applied lost
            // acknowledged entries (Redis restarted without them: `appendfsync everysec`, a
            // restored backup). Going on would apply new entries at old positions and diverge.
            if length < protocolState.appliedPosition {
                throw ReplicaRuntimeError.inputLogLost(length: length, applied: protocolState.appliedPosition)
            }
            // When caught up and idle for a whole status interval, publish the digest of this
            // position (once per position) for `audit shards`. Never while input flows: the
            // digest walks every order (tens of ms for 1M) on the machine thread.
            let applied = protocolState.appliedPosition
            if applied == length, applied == lastStatusPosition, digestPosition != applied {
                digest = await machine.digest()
                digestPosition = applied
            }
            lastStatusPosition = applied
            let status = ReplicaStatus(
                name: configuration.name, role: "\(protocolState.role)", epoch: protocolState.epoch,
                appliedPosition: applied, lastSnapshotPosition: lastSnapshotPosition,
                updatedAtMilliseconds: UInt64(WallClock.milliseconds()), digest: digest, digestPosition: digestPosition)
            try await store.publish(status, ttl: configuration.statusInterval * 3)
            onMetrics(Metrics(
                role: protocolState.role, epoch: protocolState.epoch, appliedPosition: protocolState.appliedPosition,
                lagEntries: length > protocolState.appliedPosition ? length - protocolState.appliedPosition : 0,
                outputsAppended: outputsAppended, lastSnapshotPosition: lastSnapshotPosition,
                snapshotAge: lastSnapshotAt.map { now - $0 }, lastSnapshotDuration: lastSnapshotDuration, stepDowns: stepDowns,
                unacknowledgedAppends: unacknowledgedAppends))
        } catch let error as ReplicaRuntimeError {
            logger.warning("\(error)")
            throw error
        } catch {
            logger.warning("status not published: \(error)")
        }
    }

    /// Entries a step reads at most: `readBatchEntries`, and about `readBatchBytes` at the recent
    /// average entry size (at least one).
    private var batchEntries: Int {
        max(1, min(configuration.readBatchEntries, configuration.readBatchBytes / max(1, averageEntryBytes)))
    }

    /// Executes one action; returns the protocol's answer to its result, if any.
    private func perform(_ action: ReplicaAction) async throws -> ReplicaAction? {
        switch action {
        case .wait:
            return nil
        case .observe:
            do {
                let observation = try await store.observe()
                let lease = observation.holder.map {
                    LeaseRecord(holder: $0, epoch: observation.epoch, expiresAt: now + observation.leaseRemaining)
                }
                return protocolState.observed(lease: lease, watermark: observation.watermark, now: now)
            } catch let error as RedisError {
                logger.warning("observe failed: \(error)")
                return nil
            }
        case .readAndApply(let after, let through, let emitting):
            let limit = through.map { Int(min(UInt64(batchEntries), $0 - after)) } ?? batchEntries
            let prefetched = prefetchedInput
            prefetchedInput = []
            let entries: [InputEntry]
            do {
                if limit == 0 {
                    entries = []
                } else if emitting, let first = prefetched.first, first.position == after + 1 {
                    entries = Array(prefetched.prefix(limit))
                } else if emitting, let waitClient {
                    // One round trip: the entries there are, or the first to come within a tick.
                    entries = try await store.awaitInput(after: after, count: limit, block: configuration.tickInterval, on: waitClient)
                } else {
                    entries = try await store.readInput(after: after, count: limit)
                }
            } catch let error as RedisError {
                logger.warning("read failed: \(error)")
                // Redis is away: do not spin on instant failures during its reconnect backoff.
                try await Task.sleep(for: configuration.tickInterval)
                return protocolState.entriesApplied(through: after, now: now)
            }
            var last = after
            if let first = entries.first, first.position != after + 1 {
                // The log was trimmed past this replica's state: start again from a snapshot.
                logger.warning("input log starts at \(first.position), state is at \(after): reloading")
                return protocolState.logTruncated()
            }
            if entries.isEmpty, limit > 0, let through, through > after {
                // Outputs exist through `through`, so their inputs did: trimmed away entirely.
                logger.warning("input log trimmed past \(through), state is at \(after): reloading")
                return protocolState.logTruncated()
            }
            var bytes = 0
            for entry in entries {
                precondition(entry.position == last + 1, "input log positions are dense")
                last = entry.position
                bytes += entry.payload.count
            }
            if !entries.isEmpty {
                // One read counts for at most 4 times the average: a lone large entry (a book
                // taken over) must not shrink the next reads to an entry or two each while the
                // entries behind it queue up; steadily large entries still raise it within reads.
                averageEntryBytes = (averageEntryBytes * 3 + min(bytes / entries.count, 4 * averageEntryBytes)) / 4
            }
            let applyStarted = now
            // Only a primary traces, and only entries that carry sampled orders.
            let traceStart = emitting && entries.contains { !$0.traces.isEmpty } ? DefaultTracerClock.now : nil
            let outputs = await machine.apply(entries, emitting: emitting)
            if !entries.isEmpty {
                applyTimer.record(duration: now - applyStarted)
                applySteps += 1
            }
            if emitting {
                let traceEnd = traceStart == nil ? nil : DefaultTracerClock.now
                for (entry, output) in zip(entries, outputs) {
                    var traces = EntryTraces.none
                    if let traceStart, let traceEnd, !entry.traces.isEmpty {
                        traces = EntrySpans.record(
                            Machine.spanName(of: entry), traces: entry.traces, start: traceStart, end: traceEnd,
                            attributes: [("exchange.log_position", String(entry.position))])
                    }
                    pendingOutputs.append(EmittedOutput(position: entry.position, payload: output, traces: traces))
                }
            }
            return protocolState.entriesApplied(through: last, now: now)
        case .appendOutputs(let through, let epoch):
            // At most a read's worth: outputs that piled up while Redis's replicas stalled go
            // in several appends, not one script call that holds Redis for all of them.
            let batch = pendingOutputs.prefix { $0.position <= through }.prefix(batchEntries)
            guard let last = batch.last?.position else { return protocolState.outputsAppended(through: through, now: now) }
            do {
                let appendStarted = now
                let logged = try await forwarder?.forward(Array(batch)) ?? Array(batch)
                // The next batch comes with the append: a busy primary saves a round trip per step.
                prefetchedInput = try await store.appendOutputs(
                    logged, epoch: epoch, readingInputAfter: protocolState.appliedPosition, count: batchEntries)
                appendTimer.record(duration: now - appendStarted)
                appendSteps += 1
                return outputsLanded(through: last)
            } catch FencedAppendError.fenced(let current) {
                logger.warning("append at epoch \(epoch) refused, epoch is \(current): stepping down")
                return protocolState.appendRefused(currentEpoch: current)
            } catch FencedAppendError.gap(let watermark) {
                // Above the batch's start: an earlier attempt that Redis's replicas did not
                // acknowledge in time put these outputs in the log (under this epoch only this
                // replica appends, and outputs are a function of the input log).
                if let first = batch.first?.position, watermark >= first, watermark <= through {
                    return outputsLanded(through: watermark)
                }
                logger.warning("append would leave a gap after \(watermark): reloading")
                return protocolState.appendRefused(currentEpoch: protocolState.epoch)
            } catch RedisError.notReplicated(let reason) {
                // It may have run on the master (a `WAIT` that timed out) or not (`NOREPLICAS`,
                // or a forward before it failed): tried again at the next turn, after a pause
                // so that instant refusals do not spin.
                logger.warning("append not acknowledged by Redis's replicas in time (\(reason)): trying again")
                unacknowledgedAppends += 1
                try? await Task.sleep(for: configuration.tickInterval)
                return protocolState.appendUnacknowledged()
            } catch let error as RedisError {
                // Unknown outcome: a reload re-derives the outputs from the durable watermark.
                logger.warning("append failed: \(error): reloading")
                return protocolState.appendRefused(currentEpoch: protocolState.epoch)
            }
        case .acquireLease(let epoch, let expiresAt):
            do {
                switch try await store.acquireLease(holder: configuration.name, epoch: epoch, duration: configuration.protocolConfiguration.leaseDuration) {
                case .acquired(let granted, let watermark):
                    logger.info("primary at epoch \(granted), watermark \(watermark)")
                    // The deadline counts from when the request was sent: never later than Redis's.
                    return protocolState.leaseAcquired(epoch: granted, expiresAt: expiresAt, watermark: watermark, now: now)
                case .held(let holder, let current, let remaining):
                    return protocolState.leaseRefused(current: LeaseRecord(holder: holder, epoch: current, expiresAt: now + remaining))
                }
            } catch let error as RedisError {
                logger.warning("acquire failed: \(error)")
                return protocolState.leaseRefused(current: LeaseRecord(holder: "", epoch: protocolState.epoch, expiresAt: now))
            }
        case .renewLease(let epoch, let expiresAt):
            do {
                let result = try await store.renewLease(holder: configuration.name, epoch: epoch, duration: configuration.protocolConfiguration.leaseDuration)
                if result.renewed { return protocolState.leaseRenewed(expiresAt: expiresAt, now: now) }
                return protocolState.leaseRenewalRefused(current: LeaseRecord(holder: result.holder, epoch: result.epoch, expiresAt: now))
            } catch let error as RedisError {
                // The lease keeps its last deadline; the protocol steps down if it lapses.
                logger.warning("renew failed: \(error)")
                return nil
            }
        case .writeSnapshot:
            preconditionFailure("snapshots are started by the loop, on a child task")
        case .reload:
            protocolState.reloadStarted()
            return await recover()
        }
    }

    /// Drops the pending outputs up to `position`, which the output log now holds, counts
    /// them, and tells the protocol.
    private func outputsLanded(through position: LogPosition) -> ReplicaAction {
        let landed = pendingOutputs.prefix { $0.position <= position }.count
        pendingOutputs.removeFirst(landed)
        outputsAppended += UInt64(landed)
        return protocolState.outputsAppended(through: position, now: now)
    }

    // MARK: Snapshots

    private func snapshotPath(_ position: LogPosition) -> String {
        let digits = String(position)
        return configuration.snapshotDirectory + "/snapshot-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".zst"
    }

    /// Snapshot files, newest first, with their positions.
    private func snapshotFiles() -> [(position: LogPosition, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.snapshotDirectory)) ?? []
        return names.compactMap { name -> (LogPosition, String)? in
            guard name.hasPrefix("snapshot-"), name.hasSuffix(".zst"),
                  let position = LogPosition(name.dropFirst("snapshot-".count).dropLast(".zst".count)) else { return nil }
            return (position, configuration.snapshotDirectory + "/" + name)
        }
        .sorted { $0.0 > $1.0 }
    }

    /// Copies the published snapshot into the snapshot directory when it is newer than every
    /// local file (a new replica with an empty directory, or one left behind a trimmed log).
    private func fetchPublishedSnapshot() async {
        do {
            guard let published = try await store.publishedSnapshot(),
                  published.position > (snapshotFiles().first?.position ?? 0) else { return }
            try FileManager.default.createDirectory(atPath: configuration.snapshotDirectory, withIntermediateDirectories: true)
            try Data(published.bytes).write(to: URL(fileURLWithPath: snapshotPath(published.position)), options: .atomic)
            logger.info("fetched the published snapshot at \(published.position)")
        } catch {
            logger.warning("published snapshot not fetched: \(error)")
        }
    }

    /// Loads the newest valid snapshot, local or published (skipping corrupt ones with a
    /// warning), or starts empty.
    private func recover() async -> ReplicaAction {
        pendingOutputs.removeAll()
        prefetchedInput.removeAll()
        await fetchPublishedSnapshot()
        for file in snapshotFiles() {
            do {
                let (position, restored) = try SnapshotFile.read(from: file.path) { source -> (LogPosition, Machine) in
                    (try source.readUInt64(), try Machine.restore(from: &source))
                }
                guard position == file.position else { throw SnapshotError.invalidContent("position \(position) in \(file.path)") }
                await machine.replace(with: restored)
                lastSnapshotPosition = position
                lastSnapshotAt = now
                logger.info("restored snapshot at \(position)")
                return protocolState.recovered(at: position, now: now)
            } catch {
                logger.warning("skipping snapshot \(file.path): \(error)")
            }
        }
        await machine.replace(with: Machine())
        return protocolState.recovered(at: 0, now: now)
    }
}

/// Why a replica stops rather than go on.
public enum ReplicaRuntimeError: Error, Equatable, CustomStringConvertible {
    /// The input log ends at `length`, before `applied`, the position this replica reached:
    /// the log lost acknowledged entries.
    case inputLogLost(length: LogPosition, applied: LogPosition)

    public var description: String {
        switch self {
        case .inputLogLost(let length, let applied):
            "the input log ends at \(length) but this replica applied through \(applied): the log lost acknowledged entries "
                + "(Redis restarted without them?); stopping rather than diverge. Restore the log, or move this replica's snapshots "
                + "aside to rebuild from what the log holds."
        }
    }
}

/// What a replica reports every status interval (`ReplicaRuntime.Metrics`).
public struct ReplicaReport: Sendable, Equatable {
    public var role: ReplicaStateMachine.Role
    public var epoch: Epoch
    public var appliedPosition: LogPosition
    /// Input entries not applied yet (the log's length minus `appliedPosition`).
    public var lagEntries: UInt64
    /// Output entries this process appended (as primary).
    public var outputsAppended: UInt64
    public var lastSnapshotPosition: LogPosition
    /// Since the last snapshot this process wrote or loaded; nil before any.
    public var snapshotAge: Duration?
    public var lastSnapshotDuration: Duration
    /// Times this process stopped leading, by `ReplicaStateMachine.StepDown.kind`.
    public var stepDowns: [String: UInt64] = [:]
    /// Appends (as primary) that Redis's replicas did not acknowledge in time, each tried
    /// again (`ReplicaStateMachine.appendUnacknowledged`): a stall of the replicas.
    public var unacknowledgedAppends: UInt64 = 0
}
