import ExchangeTracing
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// How a role process traces: swift-distributed-tracing with swift-otel's tracer for requests
/// and pushes, and the replicas' per-entry spans through `EntrySpanRecorder` and
/// `EntrySpanExporter`; both batch and export over OTLP/HTTP (protobuf), configured by the
/// standard `OTEL_*` environment (endpoint, headers, certificates, sampler, batch delay,
/// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
///
/// Off unless an endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and off with `OTEL_SDK_DISABLED=true` or
/// `OTEL_TRACES_EXPORTER=none`: then nothing is bootstrapped and every span is a no-op.
/// The sampler is OTel's default, parent-based always-on: gateways start a trace per
/// request unless `OTEL_TRACES_SAMPLER=parentbased_traceidratio` (with
/// `OTEL_TRACES_SAMPLER_ARG`) samples fewer; other roles follow their parents' decision (a
/// replica records a span exactly for the orders whose `traceparent` says sampled).
public enum RoleTracing {
    /// Whether `environment` turns tracing on.
    public static func isEnabled(environment: [String: String]) -> Bool {
        // An empty setting counts as unset.
        let endpoint = [environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_ENDPOINT"]].compactMap { $0 }.first { !$0.isEmpty }
        return endpoint != nil && environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
            && environment["OTEL_TRACES_EXPORTER"]?.lowercased() != "none"
    }

    /// Puts the current span's `trace_id` and `span_id` on every log record, when tracing is on.
    public static func loggingMetadataProvider(environment: [String: String]) -> Logger.MetadataProvider? {
        isEnabled(environment: environment) ? OTel.makeLoggingMetadataProvider() : nil
    }

    /// Bootstraps tracing for this process (once, first) as service `exchange-ROLE` with
    /// `attributes` as resource attributes (`exchange.shard`…): swift-otel's tracer for the
    /// spans of requests and pushes, and an `EntrySpanRecorder` for the spans replicas record
    /// per applied entry (`EntrySpans`). Returns their exporters' services, to run beside the
    /// role's (they flush on shutdown), or none when tracing is off. The exporters' own
    /// troubles go to `logger`.
    public static func bootstrap(
        role: String, attributes: [(String, String)], environment: [String: String], logger: Logger
    ) throws -> [any Service] {
        guard isEnabled(environment: environment),
              let entries = try EntrySpanExporter.Configuration.from(environment: environment, serviceName: "exchange-\(role)", location: attributes)
        else { return [] }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "exchange-\(role)"
        configuration.resourceAttributes = Dictionary(attributes.map { ("exchange.\($0.0)", $0.1) }, uniquingKeysWith: { _, last in last })
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        let recorder = EntrySpanRecorder(capacity: entries.capacity)
        EntrySpans.bootstrap(recorder)
        return [backend.service, EntrySpanExporter(recorder: recorder, configuration: entries, logger: logger)]
    }
}
