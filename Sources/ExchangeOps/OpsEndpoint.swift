import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// A role's ops port, on the same HTTP stack as the client APIs (Hummingbird): `GET /health`
/// (200 when the role serves, 503 before, with a JSON body) and `GET /metrics` (the process's
/// swift-metrics in Prometheus text, from its `PrometheusCollectorRegistry`).
///
/// Invariant: one registry per process, bootstrapped into swift-metrics once
/// (`bootstrapMetrics`) before any metric is created; libraries only use swift-metrics.
///
/// With an `InternalToken` both answer 401 to a request that does not carry it.
public enum OpsEndpoint {
    /// What `/health` answers.
    public struct Health: Sendable {
        public var ready: Bool
        /// A JSON object.
        public var json: String

        public init(ready: Bool, json: String) {
            self.ready = ready
            self.json = json
        }
    }

    /// Histogram buckets of every timer, 50 µs to 10 s.
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2_500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(10),
    ]

    /// Makes the process's registry and bootstraps swift-metrics with it. Call once, first.
    /// With EXCHANGE_METRICS=off in `environment` nothing is bootstrapped: every metric is
    /// swift-metrics' no-op and `/metrics` is empty (for measuring what metrics cost).
    public static func bootstrapMetrics(environment: [String: String] = ProcessInfo.processInfo.environment) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        if environment["EXCHANGE_METRICS"] != "off" { MetricsSystem.bootstrap(metricsFactory(registry: registry)) }
        return registry
    }

    /// swift-metrics into `registry`, every family with its help text (`MetricCatalog`) and
    /// timers as histograms of `durationBuckets`.
    public static func metricsFactory(registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        DescribedMetricsFactory(registry: registry, buckets: durationBuckets)
    }

    /// Adds `/health` and `/metrics` to `router`; `collect` runs before each scrape, to bring
    /// metrics that follow totals kept elsewhere up to date (`ObservedCounter`, gauges).
    /// Requests must carry `token`, if any (by default the process's, `bootstrapToken`).
    public static func addRoutes<Context: RequestContext>(
        to router: Router<Context>, registry: PrometheusCollectorRegistry, health: @escaping @Sendable () -> Health,
        collect: @escaping @Sendable () -> Void = {}, token: InternalToken? = processToken
    ) {
        router.get("health") { request, _ in
            if let token, !token.authorizes(request.headers) { return unauthorized() }
            let state = health()
            return Response(
                status: state.ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: state.json)))
        }
        router.get("metrics") { request, _ in
            if let token, !token.authorizes(request.headers) { return unauthorized() }
            collect()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }

    private static func unauthorized() -> Response {
        Response(
            status: .unauthorized, headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"this endpoint needs the cluster's internal token (Authorization: Bearer)"}"#)))
    }

    private static let token = Mutex<InternalToken?>(nil)

    /// The process's internal token, once `bootstrapToken` read it.
    public static var processToken: InternalToken? { token.withLock { $0 } }

    /// Reads the process's internal token from `environment` (`InternalToken.from`) for every
    /// ops endpoint made after. Call once, first, beside `bootstrapMetrics`.
    public static func bootstrapToken(environment: [String: String]) throws {
        let read = try InternalToken.from(environment: environment)
        token.withLock { $0 = read }
    }

    /// The ops application on `host:port` (port 0: a free one, given to `onListening`): a
    /// `Service` to run in the role's `ServiceGroup`.
    public static func application(
        host: String = "0.0.0.0", port: Int, registry: PrometheusCollectorRegistry, logger: Logger,
        health: @escaping @Sendable () -> Health, collect: @escaping @Sendable () -> Void = {}, token: InternalToken? = processToken,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        addRoutes(to: router, registry: registry, health: health, collect: collect, token: token)
        var quiet = logger
        quiet.logLevel = .warning
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "OpenExchange ops"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: quiet)
    }
}
