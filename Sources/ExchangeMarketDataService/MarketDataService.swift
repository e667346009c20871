import ExchangeHTTPAPI
import Hummingbird
import HummingbirdCore
import HummingbirdWSCompression
import HummingbirdWebSocket
import Logging
import NIOCore
import PostgresNIO
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
                maxFrameSize: 1 << 16, extensions: [.perMessageDeflate(maxDecompressedFrameSize: 1 << 16)],
                autoPing: .enabled(timePeriod: .seconds(20))))
    }

    /// `/health`: 200 `{"status":"ok"}` once caught up, 503 `{"status":"catching up"}` before.
    public func health() -> Response {
        let ready = isCaughtUp
        return Response(
            status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: ready ? #"{"status":"ok"}"# : #"{"status":"catching up"}"#)))
    }

    /// Prometheus text: entries applied, symbols, connections, frames, slow clients dropped.
    public func metricsText() -> String {
        let symbols = readAll { name, _ in name }.count
        let connections = connectionCounts.withLock { $0.values.reduce(0, +) }
        return """
            # HELP exchange_marketdata_caught_up Whether every shard's output log has been read to its end.
            # TYPE exchange_marketdata_caught_up gauge
            exchange_marketdata_caught_up \(isCaughtUp ? 1 : 0)
            # HELP exchange_marketdata_entries_applied_total Shard output entries applied.
            # TYPE exchange_marketdata_entries_applied_total counter
            exchange_marketdata_entries_applied_total \(entriesApplied.load(ordering: .relaxed))
            # HELP exchange_marketdata_symbols Symbols served.
            # TYPE exchange_marketdata_symbols gauge
            exchange_marketdata_symbols \(symbols)
            # HELP exchange_marketdata_connections Open stream connections.
            # TYPE exchange_marketdata_connections gauge
            exchange_marketdata_connections \(connections)
            # HELP exchange_marketdata_frames_sent_total Frames queued to stream clients.
            # TYPE exchange_marketdata_frames_sent_total counter
            exchange_marketdata_frames_sent_total \(fanout.framesSent.load(ordering: .relaxed))
            # HELP exchange_marketdata_slow_clients_dropped_total Stream clients disconnected for falling behind.
            # TYPE exchange_marketdata_slow_clients_dropped_total counter
            exchange_marketdata_slow_clients_dropped_total \(fanout.slowClientsDropped.load(ordering: .relaxed))

            """
    }
}

/// `exchange marketdata` as `Service`s: the HTTP/WebSocket application, the hub's tail and the
/// PostgreSQL pool (if any), in one group that stops gracefully on SIGTERM/SIGINT.
public enum MarketDataService {
    public static func run(
        _ hub: MarketDataHub, host: String, port: Int, limits: MarketStreamLimits, postgres: PostgresClient?, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let router = Router(context: MarketDataRequestContext.self)
        router.add(middleware: BinanceErrorMiddleware(logger: logger))
        router.get("health") { _, _ in hub.health() }
        router.get("metrics") { _, _ in hub.metricsText() }
        hub.addMarketRoutes(to: router)
        hub.addStreamRoutes(to: router, limits: limits)
        let application = Application(
            router: router, server: MarketDataHub.server(webSocketRouter: router),
            configuration: .init(address: .hostname(host, port: port), serverName: "OpenExchange"),
            services: [Tail(hub: hub)] + (postgres.map { [$0] } ?? []),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
        try await application.runService()
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
