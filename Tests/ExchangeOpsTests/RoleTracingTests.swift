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

struct EntrySpanExporterConfigurationTests {
    @Test("the entry span exporter reads the standard OTEL_* settings, the trace-specific ones first")
    func fromEnvironment() throws {
        #expect(EntrySpanExporter.Configuration.from(environment: [:], serviceName: "exchange-matcher", location: []) == nil)
        let base = try #require(EntrySpanExporter.Configuration.from(
            environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"], serviceName: "exchange-matcher",
            location: [("shard", "1"), ("replica", "a")]))
        #expect(base.endpoint == "http://collector:4318/v1/traces")
        #expect(base.interval == .seconds(5) && base.timeout == .seconds(30) && base.capacity == 2_048 && base.maximumBatchSpans == 512)
        #expect(base.certificateFile == nil)
        #expect(base.resource.map { "\($0.key)=\($0.value)" } == ["service.name=exchange-matcher", "exchange.shard=1", "exchange.replica=a"])
        let specific = try #require(EntrySpanExporter.Configuration.from(
            environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces:4318/custom",
                "OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer%20abc, x-tenant = t1,bad",
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/etc/ca.pem", "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_EXPORT_TIMEOUT": "0",
                "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16", "OTEL_SERVICE_NAME": "matcher-eu",
                "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,exchange.shard=9,service.name=ignored",
            ],
            serviceName: "exchange-matcher", location: [("shard", "1")]))
        #expect(specific.endpoint == "https://traces:4318/custom")
        #expect(specific.headers.map { "\($0.0)=\($0.1)" } == ["authorization=Bearer abc", "x-tenant=t1"])
        #expect(specific.certificateFile == "/etc/ca.pem" && specific.interval == .milliseconds(100) && specific.timeout == .seconds(30))
        #expect(specific.capacity == 64 && specific.maximumBatchSpans == 16)
        // The process's own location wins over the environment's; the service name is OTEL_SERVICE_NAME's.
        #expect(specific.resource.map { "\($0.key)=\($0.value)" } == ["service.name=matcher-eu", "deployment.environment=prod", "exchange.shard=1"])
    }
}
