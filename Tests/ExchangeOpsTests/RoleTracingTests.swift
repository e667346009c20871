import ExchangeOps
import Testing

struct RoleTracingTests {
    @Test("tracing is on only with an OTLP endpoint, and off when the SDK or the exporter is disabled")
    func enabling() {
        #expect(!RoleTracing.isEnabled(environment: [:]))
        #expect(!RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": ""]))
        #expect(RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]))
        #expect(RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"]))
        #expect(!RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "TRUE"]))
        #expect(!RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"]))
        #expect(RoleTracing.loggingMetadataProvider(environment: [:]) == nil)
    }
}
