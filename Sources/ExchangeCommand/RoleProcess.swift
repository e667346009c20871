import ExchangeLogging
import ExchangeOps
import Foundation
import Logging
import Prometheus

/// What a role process sets up once, before anything else: logging, metrics, the internal
/// token its ops endpoints ask for, and tracing, each from the environment; then it runs its roles' services with the span exporters.
struct RoleProcess {
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    /// The span exporters' services, when tracing is on (`RoleTracing`).
    let tracing: RoleServices?

    /// - Parameter location: where the process is, in logs and trace resources: [("shard", "0"), ("replica", "a")].
    static func bootstrap(role: String, location: [(String, String)] = []) throws -> RoleProcess {
        let environment = ProcessInfo.processInfo.environment
        let logger = RoleLogging.bootstrap(
            role: role, location: location, environment: environment,
            metadataProvider: RoleTracing.loggingMetadataProvider(environment: environment))
        let registry = OpsEndpoint.bootstrapMetrics(environment: environment)
        try OpsEndpoint.bootstrapToken(environment: environment)
        let tracing = try RoleTracing.bootstrap(role: role, attributes: location, environment: environment, logger: logger)
        return RoleProcess(logger: logger, registry: registry, tracing: tracing.isEmpty ? nil : RoleServices(services: tracing))
    }

    /// Runs `roles` in one group (`RoleGroup`). The span exporters go first, so they are shut
    /// down last and flush the spans of everything else.
    func run(_ roles: [RoleServices]) async throws {
        try await RoleGroup.run((tracing.map { [$0] } ?? []) + roles, logger: logger)
    }
}
