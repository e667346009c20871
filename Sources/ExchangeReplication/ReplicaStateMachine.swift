/// A position in an input log: the 1-based sequence of an entry; 0 means "before the first".
public typealias LogPosition = UInt64

/// A fencing token: the number of times a shard's lease changed hands. Every output append
/// carries it, and the store refuses an append whose epoch is not the current one.
public typealias Epoch = UInt64

/// The lease of one shard or partition as last read from the store.
public struct LeaseRecord: Sendable, Equatable {
    public var holder: String
    public var epoch: Epoch
    /// When it lapses, on the reader's monotonic clock (see `ReplicaStateMachine`).
    public var expiresAt: Duration

    public init(holder: String, epoch: Epoch, expiresAt: Duration) {
        self.holder = holder
        self.epoch = epoch
        self.expiresAt = expiresAt
    }
}

/// What the replica runtime must do next. The state machine never does I/O itself.
public enum ReplicaAction: Sendable, Equatable {
    /// Read the lease and the output watermark (the highest input position whose outputs are
    /// in the output log), then report them with `observed`.
    case observe
    /// Read input entries after `after`, at most through `through` (nil: no bound), apply them
    /// to the deterministic state machine, then report `entriesApplied`. With `emitting`, keep
    /// their outputs for `appendOutputs`; without, drop them (they are already durable, or a
    /// standby must not emit).
    case readAndApply(after: LogPosition, through: LogPosition?, emitting: Bool)
    /// Append the kept outputs of inputs through `through` with a fenced append at `epoch`,
    /// then report `outputsAppended` or `appendRefused`.
    case appendOutputs(through: LogPosition, epoch: Epoch)
    /// Try to take the lease at `epoch` (one more than the last seen) until `expiresAt`.
    case acquireLease(epoch: Epoch, expiresAt: Duration)
    /// Extend the held lease at `epoch` until `expiresAt`.
    case renewLease(epoch: Epoch, expiresAt: Duration)
    /// Snapshot the state at `position` (temp file, fsync, rename), then `snapshotWritten`.
    case writeSnapshot(at: LogPosition)
    /// Discard the in-memory state and recover from the newest valid snapshot plus the log:
    /// a deposed primary may have applied inputs whose outputs it never appended.
    case reload
    /// Nothing until the next fact (a tick, new entries).
    case wait
}

/// The replica protocol of one shard or partition, sans I/O.
///
/// The replica applies its input log to a deterministic state machine (matching or clearing).
/// Exactly one replica, the lease holder, emits outputs; standbys follow the output
/// watermark `W` (they apply only inputs whose outputs are already durable), so a standby
/// that takes over holds a state at or behind `W`, catches up to `W` silently, and emits
/// from `W + 1` on: nothing is emitted twice and nothing is skipped.
///
/// Time is a fact: every input carries `now`, a monotonic `Duration` since an arbitrary
/// origin. Nothing here reads a clock.
///
/// States and transitions:
/// - `recovering`: loading a snapshot. Can transition to: `standby`.
/// - `standby`: applying through `W`, polling the lease. Can transition to: `candidate`.
/// - `candidate`: asked for the lease. Can transition to: `catchingUp`, `standby`.
/// - `catchingUp`: holds the lease, applying through `W` silently. Can transition to:
///   `primary`, `fenced`, `standby`.
/// - `primary`: applying and emitting, renewing the lease. Can transition to: `fenced`,
///   `standby`.
/// - `fenced`: lost the lease, had an append refused, or found the input log trimmed past its
///   state, with a state that may be past `W`; emits nothing and reloads.
///   Can transition to: `recovering`.
///
/// A lease holder that loses the lease with nothing applied past the watermark and no read
/// or append in flight (an idle primary whose renewal came late, say) steps down to `standby`
/// keeping its state: that state is exactly a standby's at the watermark, so a reload would
/// only rebuild it, at the cost of a snapshot load and a replay, while the log may need a
/// primary. `lastStepDown` says why it last stopped leading.
public struct ReplicaStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// How long an acquired or renewed lease lasts.
        public var leaseDuration: Duration
        /// How often the primary renews (well under `leaseDuration`) and a standby polls.
        public var renewalInterval: Duration
        /// Snapshot after this many applied entries since the last snapshot...
        public var snapshotIntervalEntries: UInt64
        /// ...or after this long, whichever comes first (if anything was applied).
        public var snapshotInterval: Duration

        /// - Precondition: `renewalInterval * 3 <= leaseDuration`, so two renewals may fail
        ///   before the lease lapses; intervals positive.
        public init(leaseDuration: Duration, renewalInterval: Duration, snapshotIntervalEntries: UInt64, snapshotInterval: Duration) {
            precondition(renewalInterval > .zero && renewalInterval * 3 <= leaseDuration, "renew at least three times per lease")
            precondition(snapshotIntervalEntries > 0 && snapshotInterval > .zero, "snapshot intervals must be positive")
            self.leaseDuration = leaseDuration
            self.renewalInterval = renewalInterval
            self.snapshotIntervalEntries = snapshotIntervalEntries
            self.snapshotInterval = snapshotInterval
        }
    }

    public enum Role: Sendable, Equatable {
        case recovering, standby, candidate, catchingUp, primary, fenced
    }

    /// Why a lease holder stopped leading.
    public enum StepDown: Sendable, Equatable, CustomStringConvertible {
        /// No renewal came back before the lease's deadline (on this replica's clock).
        case leaseLapsed
        /// The store names another holder or a newer epoch (`epoch`).
        case deposed(epoch: Epoch)
        /// The store refused an append or a renewal: the epoch is `epoch` now.
        case refused(epoch: Epoch)
        /// An append failed with its outcome unknown, or would have left a gap.
        case appendFailed
        /// The input log was trimmed past the applied state.
        case inputTrimmed

        /// Every step-down's `kind`, for one metric series each.
        public static let kinds = ["lease_lapsed", "deposed", "refused", "append_failed", "input_trimmed"]

        /// The reason without its epoch: a metric label (`kinds`).
        public var kind: String {
            switch self {
            case .leaseLapsed: "lease_lapsed"
            case .deposed: "deposed"
            case .refused: "refused"
            case .appendFailed: "append_failed"
            case .inputTrimmed: "input_trimmed"
            }
        }

        public var description: String {
            switch self {
            case .leaseLapsed: "its lease lapsed unrenewed"
            case .deposed(let epoch): "the lease is someone else's at epoch \(epoch)"
            case .refused(let epoch): "the store refused it at epoch \(epoch)"
            case .appendFailed: "an append failed or would have left a gap"
            case .inputTrimmed: "the input log was trimmed past its state"
            }
        }
    }

    public let name: String
    public let configuration: Configuration
    public private(set) var role: Role = .recovering
    /// Why this replica last stopped leading, and whether it kept its state; nil if it never led.
    public private(set) var lastStepDown: (reason: StepDown, keptState: Bool)?
    /// The last input applied to the local state.
    public private(set) var appliedPosition: LogPosition = 0
    /// The highest input position whose outputs are known durable in the output log.
    public private(set) var watermark: LogPosition = 0
    /// The highest epoch seen; the epoch of the lease while `catchingUp` or `primary`.
    public private(set) var epoch: Epoch = 0
    /// When the held lease lapses (primary, catchingUp).
    public private(set) var leaseExpiresAt: Duration = .zero
    private var lastRenewalAt: Duration = .zero
    private var lastSnapshotPosition: LogPosition = 0
    private var lastSnapshotAt: Duration = .zero
    private var readOutstanding = false
    private var appendOutstanding = false
    private var snapshotOutstanding = false

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    // MARK: Facts

    /// The snapshot (or nothing) was loaded: the state is at `position`.
    public mutating func recovered(at position: LogPosition, now: Duration) -> ReplicaAction {
        precondition(role == .recovering, "recovered outside recovery")
        appliedPosition = position
        lastSnapshotPosition = position
        lastSnapshotAt = now
        role = .standby
        readOutstanding = false
        appendOutstanding = false
        return .observe
    }

    /// The store's lease (nil: none) and output watermark were read.
    public mutating func observed(lease: LeaseRecord?, watermark observedWatermark: LogPosition, now: Duration) -> ReplicaAction {
        if let lease { epoch = max(epoch, lease.epoch) }
        switch role {
        case .standby:
            watermark = max(watermark, observedWatermark)
            if lease == nil || lease!.expiresAt <= now {
                role = .candidate
                return .acquireLease(epoch: epoch + 1, expiresAt: now + configuration.leaseDuration)
            }
            return readIfBehindWatermark()
        case .primary, .catchingUp:
            if let lease, lease.holder != name || lease.epoch > epochHeld {
                return fence(.deposed(epoch: lease.epoch))
            }
            return .wait
        case .recovering, .candidate, .fenced:
            return .wait
        }
    }

    /// The lease was taken at `acquiredEpoch`; the output watermark read with it is `watermark`.
    public mutating func leaseAcquired(epoch acquiredEpoch: Epoch, expiresAt: Duration, watermark observedWatermark: LogPosition, now: Duration) -> ReplicaAction {
        guard role == .candidate else { return .wait }
        // A grant that arrives after a newer epoch was seen is already superseded.
        guard acquiredEpoch >= epoch else {
            role = .standby
            return readIfBehindWatermark()
        }
        epoch = acquiredEpoch
        epochHeld = acquiredEpoch
        leaseExpiresAt = expiresAt
        lastRenewalAt = now
        watermark = max(watermark, observedWatermark)
        precondition(appliedPosition <= watermark, "a standby never applies past the watermark")
        role = .catchingUp
        return continueAsLeaseHolder()
    }

    /// Another replica holds the lease.
    public mutating func leaseRefused(current: LeaseRecord) -> ReplicaAction {
        epoch = max(epoch, current.epoch)
        guard role == .candidate else { return .wait }
        role = .standby
        return readIfBehindWatermark()
    }

    /// Entries through `position` were read and applied (`readAndApply`).
    public mutating func entriesApplied(through position: LogPosition, now: Duration) -> ReplicaAction {
        readOutstanding = false
        precondition(position >= appliedPosition, "applied position moved back")
        appliedPosition = position
        switch role {
        case .standby:
            precondition(position <= watermark, "a standby applied past the watermark")
            if let snapshot = snapshotIfDue(now: now) { return snapshot }
            return readIfBehindWatermark()
        case .catchingUp:
            return continueAsLeaseHolder()
        case .primary:
            if position > watermark, !appendOutstanding {
                appendOutstanding = true
                return .appendOutputs(through: position, epoch: epochHeld)
            }
            return snapshotIfDue(now: now) ?? .wait
        case .recovering, .candidate, .fenced:
            return .wait
        }
    }

    /// The fenced append of outputs through `position` succeeded.
    public mutating func outputsAppended(through position: LogPosition, now: Duration) -> ReplicaAction {
        appendOutstanding = false
        guard role == .primary else { return .wait }
        watermark = max(watermark, position)
        if appliedPosition > watermark {
            appendOutstanding = true
            return .appendOutputs(through: appliedPosition, epoch: epochHeld)
        }
        if let snapshot = snapshotIfDue(now: now) { return snapshot }
        readOutstanding = true
        return .readAndApply(after: appliedPosition, through: nil, emitting: true)
    }

    /// The store refused an append: another replica holds a newer epoch.
    public mutating func appendRefused(currentEpoch: Epoch) -> ReplicaAction {
        let newer = currentEpoch > epochHeld
        epoch = max(epoch, currentEpoch)
        appendOutstanding = false
        return fence(newer ? .refused(epoch: currentEpoch) : .appendFailed)
    }

    /// Too few of Redis's replicas acknowledged the append in time (they stall: a paused
    /// host, a disk that stops answering); it may or may not have run on the master. Nothing
    /// acknowledged is lost, and the lease is still this replica's (renewals do not wait for
    /// replicas); a failover could not help, since the next primary would wait for the same
    /// replicas. So the primary stays: the next turn reads on, and appends again from the
    /// same first output (forwards are idempotent; outputs an earlier attempt put in the log
    /// are recognised by their positions).
    public mutating func appendUnacknowledged() -> ReplicaAction {
        appendOutstanding = false
        return .wait
    }

    /// The lease was extended. (Renewals are paced from when they were sent, in `tick`.)
    public mutating func leaseRenewed(expiresAt: Duration, now: Duration) -> ReplicaAction {
        guard role == .primary || role == .catchingUp else { return .wait }
        leaseExpiresAt = max(leaseExpiresAt, expiresAt)
        return .wait
    }

    /// Renewal failed: the lease is someone else's now.
    public mutating func leaseRenewalRefused(current: LeaseRecord) -> ReplicaAction {
        epoch = max(epoch, current.epoch)
        return fence(.refused(epoch: current.epoch))
    }

    /// A snapshot at `position` is durable.
    public mutating func snapshotWritten(at position: LogPosition, now: Duration) -> ReplicaAction {
        snapshotOutstanding = false
        lastSnapshotPosition = max(lastSnapshotPosition, position)
        lastSnapshotAt = now
        return .wait
    }

    /// Writing the snapshot failed (a full disk, say): the schedule retries at the next due time.
    public mutating func snapshotFailed(now: Duration) -> ReplicaAction {
        snapshotOutstanding = false
        lastSnapshotAt = now
        return .wait
    }

    /// Time passed: renew, step down on a lapsed lease, or poll.
    public mutating func tick(now: Duration) -> ReplicaAction {
        switch role {
        case .primary, .catchingUp:
            // Stop emitting before the lease can be taken: a lapsed lease is someone else's.
            if now >= leaseExpiresAt { return fence(.leaseLapsed) }
            if now >= lastRenewalAt + configuration.renewalInterval {
                lastRenewalAt = now
                return .renewLease(epoch: epochHeld, expiresAt: now + configuration.leaseDuration)
            }
            if role == .primary, !readOutstanding, !appendOutstanding {
                if let snapshot = snapshotIfDue(now: now) { return snapshot }
                readOutstanding = true
                return .readAndApply(after: appliedPosition, through: nil, emitting: true)
            }
            return .wait
        case .standby:
            return .observe
        case .recovering, .candidate, .fenced:
            return .wait
        }
    }

    /// The input log no longer holds the entries after `appliedPosition` (it was trimmed below
    /// the snapshots others kept): this replica must reload from a newer snapshot.
    public mutating func logTruncated() -> ReplicaAction {
        readOutstanding = false
        appendOutstanding = false
        switch role {
        case .recovering, .fenced:
            return .wait
        case .standby, .candidate, .catchingUp, .primary:
            if role == .primary || role == .catchingUp { lastStepDown = (.inputTrimmed, false) }
            role = .fenced
            return .reload
        }
    }

    /// The reload after fencing started: the runtime restores the newest snapshot next.
    public mutating func reloadStarted() {
        precondition(role == .fenced, "reload outside fencing")
        role = .recovering
    }

    // MARK: Helpers

    /// The epoch of the lease this replica holds (valid in `catchingUp` and `primary`).
    public private(set) var epochHeld: Epoch = 0

    /// Stops leading: to `standby` with the state kept when it is a standby's (nothing applied
    /// past the watermark, nothing in flight), else `fenced` and a reload.
    private mutating func fence(_ reason: StepDown) -> ReplicaAction {
        guard role == .primary || role == .catchingUp else { return .wait }
        let keepsState = appliedPosition == watermark && !readOutstanding && !appendOutstanding
        lastStepDown = (reason, keepsState)
        if keepsState {
            role = .standby
            return .observe
        }
        role = .fenced
        readOutstanding = false
        appendOutstanding = false
        return .reload
    }

    private mutating func continueAsLeaseHolder() -> ReplicaAction {
        // A read issued as standby is still out: its answer continues the catch-up. Reading
        // again now would apply the same entries twice.
        if readOutstanding { return .wait }
        if appliedPosition < watermark {
            readOutstanding = true
            return .readAndApply(after: appliedPosition, through: watermark, emitting: false)
        }
        role = .primary
        readOutstanding = true
        return .readAndApply(after: appliedPosition, through: nil, emitting: true)
    }

    private mutating func readIfBehindWatermark() -> ReplicaAction {
        guard appliedPosition < watermark, !readOutstanding else { return .wait }
        readOutstanding = true
        return .readAndApply(after: appliedPosition, through: watermark, emitting: false)
    }

    /// Due by entries when the applied position crosses a multiple of the interval. Standbys
    /// use a grid shifted by half an interval, so the replicas of one log do not all write
    /// a snapshot (zstd on a copy, and the engine's copy-on-write of its arrays) at once.
    private mutating func snapshotIfDue(now: Duration) -> ReplicaAction? {
        guard !snapshotOutstanding, appliedPosition > lastSnapshotPosition else { return nil }
        let interval = configuration.snapshotIntervalEntries
        let shift = role == .primary ? 0 : interval / 2
        let dueByEntries = (appliedPosition + shift) / interval > (lastSnapshotPosition + shift) / interval
        let dueByTime = now >= lastSnapshotAt + configuration.snapshotInterval
        guard dueByEntries || dueByTime else { return nil }
        snapshotOutstanding = true
        return .writeSnapshot(at: appliedPosition)
    }
}
