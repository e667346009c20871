import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import PostgresNIO
import ServiceLifecycle

/// The gateway as `Service`s: the HTTP application, its PostgreSQL pool and its background
/// work (appends, projector, worker lease), for the role's `ServiceGroup`.
public enum GatewayService {
    /// `gateway`'s services on its configured host and port; `onListening` gets the bound
    /// port. `mount` adds routes of other roles run in the same process (the market data),
    /// `server` builds the HTTP server for the router (with the WebSocket upgrade the user data
    /// streams need).
    public static func services(
        _ gateway: Gateway, postgres: PostgresClient, logger: Logger,
        mount: (Router<GatewayRequestContext>) -> Void = { _ in },
        server: (Router<GatewayRequestContext>) throws -> HTTPServerBuilder = { router in
            .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .init(autoPing: .enabled(timePeriod: .seconds(20)))))
        },
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> [any Service] {
        let (host, port) = (gateway.configuration.host, gateway.configuration.port)
        let router = gateway.router()
        mount(router)
        let application = Application(
            router: router, server: try server(router), configuration: .init(address: .hostname(host, port: port), serverName: "OpenExchange"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
        // A group shuts down last to first: the server stops taking requests before the
        // submitter and the pool it relies on go.
        return [postgres, Background(gateway: gateway), application]
    }

    struct Background: Service {
        let gateway: Gateway

        func run() async throws {
            try await cancelWhenGracefulShutdown { try await gateway.runBackground() }
        }
    }
}
