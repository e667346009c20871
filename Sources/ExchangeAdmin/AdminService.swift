import ExchangeHTTPAPI
import Hummingbird
import HummingbirdCore
import Logging
import PostgresNIO
import ServiceLifecycle

/// The admin role as `Service`s for its `ServiceGroup`: the PostgreSQL pool, then the HTTP
/// application (a group stops last to first: the server before the pool it relies on).
public enum AdminService {
    public static func services(
        _ admin: Admin, postgres: PostgresClient, logger: Logger, server: HTTPServerBuilder = .http1(),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> [any Service] {
        let router = admin.router()
        let (host, port) = (admin.configuration.host, admin.configuration.port)
        let application = Application(
            router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "OpenExchange admin"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
        return [postgres, application]
    }
}
