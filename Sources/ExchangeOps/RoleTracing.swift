import Logging
import OTel
import ServiceLifecycle
import Tracing

/// How a role process traces: swift-distributed-tracing with swift-otel's tracer, spans
/// batched and exported over OTLP/HTTP (protobuf), configured by the standard `OTEL_*`
/// environment (endpoint, headers, sampler, batch delay, `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`).
///
/// Off unless an endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and off with `OTEL_SDK_DISABLED=true` or
/// `OTEL_TRACES_EXPORTER=none`: then nothing is bootstrapped and every span is a no-op.
/// The sampler is OTel's default, parent-based always-on: gateways start a trace per
/// request unless `OTEL_TRACES_SAMPLER=parentbased_traceidratio` (with
/// `OTEL_TRACES_SAMPLER_ARG`) samples fewer; other roles follow their parents' decision.
public enum RoleTracing {
    /// Whether `environment` turns tracing on.
    public static func isEnabled(environment: [String: String]) -> Bool {
        let endpoint = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
        return !(endpoint ?? "").isEmpty && environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
            && environment["OTEL_TRACES_EXPORTER"]?.lowercased() != "none"
    }

    /// Puts the current span's `trace_id` and `span_id` on every log record, when tracing is on.
    public static func loggingMetadataProvider(environment: [String: String]) -> Logger.MetadataProvider? {
        isEnabled(environment: environment) ? OTel.makeLoggingMetadataProvider() : nil
    }

    /// Bootstraps the tracer for this process (once, first) as service `exchange-ROLE` with
    /// `attributes` as resource attributes (`exchange.shard`…); returns the exporter's service,
    /// to run beside the role's (it flushes on shutdown), or nil when tracing is off. The
    /// exporter's own troubles go to `logger`.
    public static func bootstrap(
        role: String, attributes: [(String, String)], environment: [String: String], logger: Logger
    ) throws -> (any Service)? {
        guard isEnabled(environment: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "exchange-\(role)"
        configuration.resourceAttributes = Dictionary(attributes.map { ("exchange.\($0.0)", $0.1) }, uniquingKeysWith: { _, last in last })
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }
}
