import CoreMetrics
import ExchangeMetrics
import ExchangeOps
import ExchangeTesting
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

/// The ops endpoint over real HTTP: health states, the registry's exposition, the collect hook.
@Suite("Ops endpoint")
struct OpsEndpointTests {
    @Test("/health follows the role's state; /metrics serves the registry after collecting; anything else is 404")
    func serves() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = OpsEndpoint.metricsFactory(registry: registry)
        let ready = Atomic<Bool>(false)
        let total = Atomic<UInt64>(0)
        let observed = ObservedCounter(label: "exchange_test_things_total", dimensions: [("shard", "0")], factory: factory)
        let port = Mutex<Int?>(nil)
        let application = OpsEndpoint.application(
            host: "127.0.0.1", port: 0, registry: registry, logger: Logger(label: "test"),
            health: { .init(ready: ready.load(ordering: .relaxed), json: #"{"status":"x"}"#) },
            collect: { observed.observe(total.load(ordering: .relaxed)) },
            onListening: { bound in port.withLock { $0 = bound } })
        let running = Task { try await application.runService(gracefulShutdownSignals: []) }
        defer { running.cancel() }
        var bound: Int?
        for _ in 0..<200 where bound == nil {
            try await Task.sleep(for: .milliseconds(10))
            bound = port.withLock { $0 }
        }
        let opsPort = try #require(bound)

        #expect(try PlainHTTP.get(port: opsPort, path: "/health") == (503, #"{"status":"x"}"#))
        ready.store(true, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/health").status == 200)

        total.store(5, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/metrics").body.contains(#"exchange_test_things_total{shard="0"} 5"#))
        total.store(12, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/metrics").body.contains(#"exchange_test_things_total{shard="0"} 12"#))
        #expect(try PlainHTTP.get(port: opsPort, path: "/nope").status == 404)
    }

    @Test("Every family has its help text and timers are histograms in seconds; swift-metrics labels become metric names")
    func described() {
        let registry = PrometheusCollectorRegistry()
        let factory = OpsEndpoint.metricsFactory(registry: registry)
        CoreMetrics.Timer(label: "exchange_replica_apply_seconds", dimensions: [("shard", "1")], factory: factory).record(duration: .microseconds(300))
        Gauge(label: "http.server.active_requests", factory: factory).record(2)
        Counter(label: "something_new", factory: factory).increment()
        let text = registry.emitToString()
        #expect(text.contains("# HELP exchange_replica_apply_seconds State machine time per step"))
        #expect(text.contains(#"exchange_replica_apply_seconds_bucket{shard="1",le="0.0005"} 1"#))
        #expect(text.contains(#"exchange_replica_apply_seconds_bucket{shard="1",le="0.00025"} 0"#))
        #expect(text.contains("# HELP http_server_active_requests HTTP requests in progress.\n# TYPE http_server_active_requests gauge"))
        #expect(text.contains("# HELP something_new_total something_new_total (no description in MetricCatalog)"))
    }

    @Test("An observed counter never goes down: a lower total starts a new baseline")
    func observedCounter() {
        let registry = PrometheusCollectorRegistry()
        let counter = ObservedCounter(label: "exchange_test_total", factory: PrometheusMetricsFactory(registry: registry))
        func value() -> String { registry.emitToString().split(separator: "\n").first { $0.hasPrefix("exchange_test_total ") }.map(String.init) ?? "" }
        counter.observe(10)
        #expect(value() == "exchange_test_total 10")
        counter.observe(3)  // the source restarted
        #expect(value() == "exchange_test_total 10")
        counter.observe(7)
        #expect(value() == "exchange_test_total 14")
    }
}
