import CoreMetrics
import Prometheus

/// swift-metrics into a Prometheus registry, like `PrometheusMetricsFactory`, but every family
/// gets its `# HELP` line (from `MetricCatalog`), so `promtool check metrics` accepts the
/// exposition; counters' names end in `_total`. Timers become histograms with
/// `OpsEndpoint.durationBuckets`.
struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let buckets: [Duration]
    /// For `destroy*`, which only unregisters.
    private let plain: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry, buckets: [Duration]) {
        self.registry = registry
        self.buckets = buckets
        plain = PrometheusMetricsFactory(registry: registry)
    }

    /// A Prometheus metric name: what swift-metrics labels such as `http.server.active_requests` become.
    static func metricName(_ label: String) -> String {
        String(label.unicodeScalars.map { scalar -> Character in
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || scalar == ":"
                ? Character(scalar) : "_"
        })
    }

    /// A counter's name ends in `_total` (Prometheus's convention; `hb.requests` becomes `hb_requests_total`).
    static func counterName(_ label: String) -> String {
        let name = metricName(label)
        return name.hasSuffix("_total") ? name : name + "_total"
    }

    private func described(_ label: String, counter: Bool = false) -> (name: String, help: String) {
        let name = counter ? Self.counterName(label) : Self.metricName(label)
        return (name, MetricCatalog.help(for: name))
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let (name, help) = described(label, counter: true)
        return registry.makeCounter(name: name, labels: dimensions, help: help)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let (name, help) = described(label, counter: true)
        return registry.makeCounter(name: name, labels: dimensions, help: help)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (name, help) = described(label)
        return registry.makeGauge(name: name, labels: dimensions, help: help)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let (name, help) = described(label)
        return registry.makeGauge(name: name, labels: dimensions, help: help)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (name, help) = described(label)
        return registry.makeDurationHistogram(name: name, labels: dimensions, buckets: buckets, help: help)
    }

    func destroyCounter(_ handler: any CounterHandler) { plain.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { plain.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { plain.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { plain.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { plain.destroyTimer(handler) }
}

/// What every metric the roles export means (its `# HELP`); also the reference in
/// docs/operations.md. A name missing here still gets a help line naming its source.
public enum MetricCatalog {
    public static let help: [String: String] = [
        // Replicas (matcher, clearing), per shard or partition and replica.
        "exchange_replica_role": "1 for the role the replica holds (recovering, standby, candidate, catchingUp, primary, fenced), else 0.",
        "exchange_replica_epoch": "The lease epoch the replica last saw.",
        "exchange_replica_applied_position": "The last input log position applied.",
        "exchange_replica_applied_entries_total": "Input log entries applied (the matching or clearing rate, as a rate).",
        "exchange_replica_lag_entries": "Input log entries not applied yet (queue depth of the log).",
        "exchange_replica_outputs_total": "Output entries this process appended as primary.",
        "exchange_replica_unacknowledged_appends_total": "Appends as primary that Redis's replicas did not acknowledge in time, each tried again (the replicas stall).",
        "exchange_replica_promotions_total": "Times this replica became primary (failovers onto it, and its first start as primary).",
        "exchange_replica_step_downs_total": "Times this replica stopped leading, by reason (lease_lapsed, deposed, refused, append_failed, input_trimmed).",
        "exchange_replica_snapshot_position": "Input position of the last snapshot written or loaded.",
        "exchange_replica_snapshot_age_seconds": "Seconds since the last snapshot written or loaded.",
        "exchange_replica_snapshot_duration_seconds": "How long the last snapshot took to write, seconds.",
        "exchange_replica_reporting": "1 once the replica has reported its state.",
        "exchange_replica_apply_seconds": "State machine time per step that applied input entries, seconds.",
        "exchange_replica_append_seconds": "A primary's forward and fenced append per step, round trips included, seconds.",
        // Recorder.
        "exchange_recorder_entries_total": "Output log entries recorded into PostgreSQL.",
        "exchange_recorder_rows_total": "Rows written into PostgreSQL.",
        "exchange_recorder_lag_entries": "Output log entries not recorded yet, per stream.",
        // Gateway.
        "exchange_gateway_commands_appended_total": "Orders and cancels appended to clearing input logs.",
        "exchange_gateway_commands_failed_total": "Orders and cancels whose append failed.",
        "exchange_gateway_submit_queue_depth": "Commands waiting when the last append batch began.",
        "exchange_gateway_append_seconds": "Round trip of one append batch to Redis, seconds.",
        "exchange_gateway_unknown_appends_total": "Clearing appends whose outcome was unknown, by how they were settled (landed, absent, inconclusive).",
        "exchange_gateway_unsettled_appends": "Entries in gw:unsettled (appends of unknown outcome not settled), sampled every 10 s.",
        // Market data.
        "exchange_marketdata_caught_up": "1 once every shard's output log has been read to its end.",
        "exchange_marketdata_entries_applied_total": "Shard output entries applied to the market view.",
        "exchange_marketdata_symbols": "Symbols served.",
        "exchange_marketdata_connections": "Open stream connections.",
        "exchange_marketdata_frames_sent_total": "Frames queued to stream clients.",
        "exchange_marketdata_slow_clients_dropped_total": "Stream clients disconnected for falling behind.",
        "exchange_marketdata_publish_delay_seconds": "From a shard output entry's append to its frames handed to the connections, seconds.",
        // HTTP (Hummingbird's MetricsMiddleware), per route, method and status.
        "hb_requests_total": "HTTP requests served.",
        "hb_request_errors_total": "HTTP requests that ended in an error.",
        "http_server_request_duration": "HTTP request duration, seconds.",
        "http_server_active_requests": "HTTP requests in progress.",
    ]

    public static func help(for name: String) -> String { help[name] ?? "\(name) (no description in MetricCatalog)" }
}
