import Foundation
import CoreMetrics
import ExchangeMetrics
import ExchangeOps
import ExchangeTesting
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

/// The ops endpoint over real HTTP: health states, the registry's exposition, the collect hook.
@Suite("Ops endpoint")
struct OpsEndpointTests {
    /// Runs the ops application `make` builds (given its `onListening`) on a free port; returns
    /// the port once it listens (nil if it never did within 2 s), and the task serving it
    /// (cancel it to stop).
    static func serve<Application: ApplicationProtocol>(
        _ make: (@escaping @Sendable (Int) async -> Void) -> Application
    ) async throws -> (port: Int?, running: Task<Void, any Error>) {
        let port = Mutex<Int?>(nil)
        let application = make { bound in port.withLock { $0 = bound } }
        let running = Task { try await application.runService(gracefulShutdownSignals: []) }
        var bound: Int?
        for _ in 0..<200 where bound == nil {
            try await Task.sleep(for: .milliseconds(10))
            bound = port.withLock { $0 }
        }
        return (bound, running)
    }

    @Test("/health follows the role's state; /metrics serves the registry after collecting; anything else is 404")
    func serves() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = OpsEndpoint.metricsFactory(registry: registry)
        let ready = Atomic<Bool>(false)
        let total = Atomic<UInt64>(0)
        let observed = ObservedCounter(label: "exchange_test_things_total", dimensions: [("shard", "0")], factory: factory)
        let (listening, running) = try await Self.serve { onListening in
            OpsEndpoint.application(
                host: "127.0.0.1", port: 0, registry: registry, logger: Logger(label: "test"),
                health: { .init(ready: ready.load(ordering: .relaxed), json: #"{"status":"x"}"#) },
                collect: { observed.observe(total.load(ordering: .relaxed)) }, onListening: onListening)
        }
        defer { running.cancel() }
        let opsPort = try #require(listening)

        #expect(try PlainHTTP.get(port: opsPort, path: "/health") == (503, #"{"status":"x"}"#))
        ready.store(true, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/health").status == 200)

        total.store(5, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/metrics").body.contains(#"exchange_test_things_total{shard="0"} 5"#))
        total.store(12, ordering: .relaxed)
        #expect(try PlainHTTP.get(port: opsPort, path: "/metrics").body.contains(#"exchange_test_things_total{shard="0"} 12"#))
        #expect(try PlainHTTP.get(port: opsPort, path: "/nope").status == 404)
    }

    @Test("with an internal token, /health and /metrics answer 401 unless the request carries it")
    func internalToken() async throws {
        let token = try InternalToken("0123456789abcdef0123456789abcdef")
        let (listening, running) = try await Self.serve { onListening in
            OpsEndpoint.application(
                host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), logger: Logger(label: "test"),
                health: { .init(ready: true, json: "{}") }, token: token, onListening: onListening)
        }
        defer { running.cancel() }
        let opsPort = try #require(listening)
        for path in ["/health", "/metrics"] {
            #expect(try PlainHTTP.get(port: opsPort, path: path).status == 401)
            #expect(try PlainHTTP.get(port: opsPort, path: path, headers: ["Authorization: Bearer 0123456789abcdef0123456789abcdeX"]).status == 401)
            #expect(try PlainHTTP.get(port: opsPort, path: path, headers: ["Authorization: 0123456789abcdef0123456789abcdef"]).status == 401)
            #expect(try PlainHTTP.get(port: opsPort, path: path, headers: ["Authorization: \(token.authorization)"]).status == 200)
        }
    }

    @Test("the internal token comes from its file first, then the environment; a short or unreadable one is refused")
    func internalTokenSources() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        try "fedcba9876543210fedcba9876543210\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try InternalToken.from(environment: [:]) == nil)
        #expect(try InternalToken.from(environment: ["EXCHANGE_INTERNAL_TOKEN": "abcdefghijklmnop"])?.value == "abcdefghijklmnop")
        #expect(try InternalToken.from(environment: ["EXCHANGE_INTERNAL_TOKEN_FILE": file, "EXCHANGE_INTERNAL_TOKEN": "abcdefghijklmnop"])?.value
            == "fedcba9876543210fedcba9876543210")
        #expect(throws: InternalTokenError.self) { try InternalToken.from(environment: ["EXCHANGE_INTERNAL_TOKEN": "short"]) }
        #expect(throws: InternalTokenError.self) { try InternalToken.from(environment: ["EXCHANGE_INTERNAL_TOKEN_FILE": file + ".missing"]) }
        #expect(throws: InternalTokenError.self) { try InternalToken("with a space in the middle") }
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
