import ArgumentParser
import Logging
import Prometheus
import ServiceLifecycle

/// What one long-running role runs: its services, and what to release once they all ended.
/// Alone (`exchange matcher …`) or with other roles (`exchange run --roles …`), the services
/// go into one `ServiceGroup`.
struct RoleServices {
    var services: [any Service]
    var cleanup: [@Sendable () -> Void] = []
}

/// A role command that can also run inside `exchange run`.
protocol RoleCommand {
    /// The role's services, logging through `logger`, its metrics in the process's `registry`.
    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices
}

enum RoleGroup {
    /// Runs every service of `roles` in one group until SIGTERM or SIGINT (graceful shutdown)
    /// or until one of them ends or fails (the others are then shut down too, and a failure
    /// exits 1), then releases what the roles hold.
    static func run(_ roles: [RoleServices], logger: Logger) async throws {
        defer { roles.flatMap(\.cleanup).forEach { $0() } }
        let group = ServiceGroup(configuration: .init(
            services: roles.flatMap(\.services).map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // A role that cannot go on (a port in use, a full disk) must not linger looking alive.
            logger.critical("stopped by \(error)")
            throw ExitCode(1)
        }
        logger.info("stopped")
    }
}
