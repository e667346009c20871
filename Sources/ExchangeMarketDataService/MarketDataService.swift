import ExchangeHTTPAPI
import ExchangeMetrics
import ExchangeOps
import Hummingbird
import HummingbirdCore
import HummingbirdWSCompression
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The market-data role's request context (the gateway's too, when it mounts the market data).
public typealias MarketDataRequestContext = APIRequestContext

extension MarketDataHub {
    /// HTTP/1.1 with the WebSocket upgrade for `router`'s `ws` routes: permessage-deflate
    /// offered, a ping every 20 s (Binance's period), frames up to 64 KiB.
    public static func server<Context: WebSocketRequestContext>(webSocketRouter router: Router<Context>) -> HTTPServerBuilder {
        .http1WebSocketUpgrade(
            webSocketRouter: router,
            configuration: .init(
                ws: .init(
                    maxFrameSize: 1 << 16, extensions: [.perMessageDeflate(maxDecompressedFrameSize: 1 << 16)],
                    autoPing: .enabled(timePeriod: .seconds(20)))))
    }

    /// Brings the hub's metrics up to what its counters hold (before each scrape):
    /// `exchange_marketdata_caught_up`, `_entries_applied_total`, `_symbols`, `_connections`,
    /// `_frames_sent_total`, `_slow_clients_dropped_total`.
    public func collectMetrics() {
        let symbols = readAll { name, _ in name }.count
        let connections = connectionCounts.withLock { $0.values.reduce(0, +) }
        metrics.caughtUp.record(isCaughtUp ? 1 : 0)
        metrics.symbols.record(symbols)
        metrics.connections.record(connections)
        metrics.entriesApplied.observe(UInt64(entriesApplied.load(ordering: .relaxed)))
        metrics.framesSent.observe(UInt64(fanout.framesSent.load(ordering: .relaxed)))
        metrics.slowClientsDropped.observe(UInt64(fanout.slowClientsDropped.load(ordering: .relaxed)))
    }

    /// The ops port's `/health` state.
    public var opsHealth: OpsEndpoint.Health {
        .init(ready: isCaughtUp, json: isCaughtUp ? #"{"status":"ok"}"# : #"{"status":"catching up"}"#)
    }
}

/// The hub's swift-metrics, raised from its own counters at each scrape (the fan-out's hot
/// path only bumps atomics).
struct MarketDataMetrics: Sendable {
    let caughtUp = Gauge(label: "exchange_marketdata_caught_up")
    let symbols = Gauge(label: "exchange_marketdata_symbols")
    let connections = Gauge(label: "exchange_marketdata_connections")
    let entriesApplied = ObservedCounter(label: "exchange_marketdata_entries_applied_total")
    let framesSent = ObservedCounter(label: "exchange_marketdata_frames_sent_total")
    let slowClientsDropped = ObservedCounter(label: "exchange_marketdata_slow_clients_dropped_total")
    /// Per output entry applied once caught up: from its append to Redis to its frames handed
    /// to the connections' event loops (what the hub adds to a client's latency, the rest is
    /// the event loop, the kernel and the client).
    let publishDelay = Metrics.Timer(label: "exchange_marketdata_publish_delay_seconds")
}

/// `exchange marketdata` as `Service`s: the HTTP/WebSocket application, the hub's tail, the
/// ops endpoint, the PostgreSQL pool (if any) and the certificate reloader (with TLS), for the
/// role's `ServiceGroup`.
public enum MarketDataService {
    /// `hub`'s services on `host:port` (HTTPS and WSS only with `certificates`) with its ops
    /// endpoints on `opsPort` (and on the main port too); the REST endpoints' weight counts
    /// against the caller's address in `requestWeights` (the gateways' counters).
    public static func services(
        _ hub: MarketDataHub, host: String, port: Int, opsPort: Int, registry: PrometheusCollectorRegistry, certificates: TLSCertificates?,
        limits: MarketStreamLimits, requestWeights: RequestWeightLimiter,
        postgres: PostgresClient?, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }, onOpsListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> [any Service] {
        let router = Router(context: MarketDataRequestContext.self)
        router.add(middleware: BinanceErrorMiddleware(logger: logger))
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: PublicWeightMiddleware(limiter: requestWeights))
        OpsEndpoint.addRoutes(to: router, registry: registry, health: { hub.opsHealth }, collect: hub.collectMetrics)
        let ops = OpsEndpoint.application(
            port: opsPort, registry: registry, logger: logger, health: { hub.opsHealth }, collect: hub.collectMetrics, onListening: onOpsListening)
        hub.addMarketRoutes(to: router)
        hub.addStreamRoutes(to: router, limits: limits)
        let application = Application(
            router: router,
            server: try certificates.map { try .tls(MarketDataHub.server(webSocketRouter: router), certificates: $0) } ?? MarketDataHub.server(webSocketRouter: router),
            configuration: .init(address: .hostname(host, port: port), serverName: "OpenExchange"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
        // A group shuts down last to first: the server stops before what feeds it.
        return (postgres.map { [$0] } ?? []) + (certificates.map { [TLSCertificateReloader(certificates: $0, logger: logger)] } ?? [])
            + [ops, Tail(hub: hub), application]
    }

    /// The hub's work as a `Service`.
    public struct Tail: Service {
        public let hub: MarketDataHub
        public init(hub: MarketDataHub) { self.hub = hub }
        public func run() async throws {
            await cancelWhenGracefulShutdown { await hub.run() }
        }
    }
}
