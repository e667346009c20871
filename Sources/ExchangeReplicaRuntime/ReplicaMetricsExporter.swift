import ExchangeCore
import ExchangeMetrics
import ExchangeReplication
import Metrics
import Synchronization

/// A replica's reports (`ReplicaRuntime.Metrics`, one per status interval) as swift-metrics:
/// which role it holds, its epoch, position, lag, snapshots, outputs and promotions. Updated
/// per report, never per command; the process's metrics backend (Prometheus) exports them.
///
/// Invariant: counters only grow (`ObservedCounter`); `exchange_replica_promotions_total`
/// counts reports that found the replica primary after a report that did not (a failover
/// onto it, or its first start as primary); `exchange_replica_step_downs_total{reason}` counts
/// every time this process stopped leading, even between two reports.
public final class ReplicaMetricsExporter: Sendable {
    static let roles: [ReplicaStateMachine.Role] = [.recovering, .standby, .candidate, .catchingUp, .primary, .fenced]

    private let roleGauges: [(ReplicaStateMachine.Role, Gauge)]
    private let epoch, appliedPosition, lag, snapshotPosition, snapshotAge, snapshotDuration, up: Gauge
    private let outputs, appliedEntries, unacknowledgedAppends: ObservedCounter
    private let stepDowns: [(kind: String, counter: ObservedCounter)]
    private let promotions: Counter
    private let previousRole = Mutex<ReplicaStateMachine.Role?>(nil)

    /// - Parameter dimensions: [("shard", "0"), ("replica", "a")].
    public init(dimensions: [(String, String)]) {
        roleGauges = Self.roles.map { ($0, Gauge(label: "exchange_replica_role", dimensions: dimensions + [("role", "\($0)")])) }
        epoch = Gauge(label: "exchange_replica_epoch", dimensions: dimensions)
        appliedPosition = Gauge(label: "exchange_replica_applied_position", dimensions: dimensions)
        lag = Gauge(label: "exchange_replica_lag_entries", dimensions: dimensions)
        snapshotPosition = Gauge(label: "exchange_replica_snapshot_position", dimensions: dimensions)
        snapshotAge = Gauge(label: "exchange_replica_snapshot_age_seconds", dimensions: dimensions)
        snapshotDuration = Gauge(label: "exchange_replica_snapshot_duration_seconds", dimensions: dimensions)
        up = Gauge(label: "exchange_replica_reporting", dimensions: dimensions)
        outputs = ObservedCounter(label: "exchange_replica_outputs_total", dimensions: dimensions)
        appliedEntries = ObservedCounter(label: "exchange_replica_applied_entries_total", dimensions: dimensions)
        unacknowledgedAppends = ObservedCounter(label: "exchange_replica_unacknowledged_appends_total", dimensions: dimensions)
        promotions = Counter(label: "exchange_replica_promotions_total", dimensions: dimensions)
        stepDowns = ReplicaStateMachine.StepDown.kinds.map {
            ($0, ObservedCounter(label: "exchange_replica_step_downs_total", dimensions: dimensions + [("reason", $0)]))
        }
    }

    /// Records one report.
    public func record(_ report: ReplicaReport) {
        let roleBefore = previousRole.withLock { previous in
            defer { previous = report.role }
            return previous
        }
        for (role, gauge) in roleGauges { gauge.record(role == report.role ? 1 : 0) }
        epoch.record(Double(report.epoch))
        appliedPosition.record(Double(report.appliedPosition))
        lag.record(Double(report.lagEntries))
        snapshotPosition.record(Double(report.lastSnapshotPosition))
        if let age = report.snapshotAge { snapshotAge.record(age.secondsValue) }
        snapshotDuration.record(report.lastSnapshotDuration.secondsValue)
        up.record(1)
        outputs.observe(report.outputsAppended)
        appliedEntries.observe(report.appliedPosition)
        unacknowledgedAppends.observe(report.unacknowledgedAppends)
        if report.role == .primary, roleBefore != .primary { promotions.increment() }
        for (kind, counter) in stepDowns { counter.observe(report.stepDowns[kind] ?? 0) }
    }
}
