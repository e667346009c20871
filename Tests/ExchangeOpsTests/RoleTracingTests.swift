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
        #expect(throws: (any Error).self) {
            try EntrySpanExporter.Configuration.from(
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"],
                serviceName: "exchange-matcher", location: [])
        }
        #expect(RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
    }
}

struct EntrySpanExporterConfigurationTests {
    @Test("the entry span exporter reads the standard OTEL_* settings, the trace-specific ones first")
    func fromEnvironment() throws {
        #expect(try EntrySpanExporter.Configuration.from(environment: [:], serviceName: "exchange-matcher", location: []) == nil)
        let base = try #require(try EntrySpanExporter.Configuration.from(
            environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"], serviceName: "exchange-matcher",
            location: [("shard", "1"), ("replica", "a")]))
        #expect(base.endpoint == "http://collector:4318/v1/traces")
        #expect(base.interval == .seconds(5) && base.requestTimeout == .seconds(10) && base.exportTimeout == .seconds(30))
        #expect(base.capacity == 2_048 && base.maximumBatchSpans == 512)
        #expect(base.certificateFile == nil)
        #expect(base.resource.map { "\($0.key)=\($0.value)" } == ["service.name=exchange-matcher", "exchange.shard=1", "exchange.replica=a"])
        let specific = try #require(try EntrySpanExporter.Configuration.from(
            environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces:4318/custom",
                "OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer%20abc, x-tenant = t1,bad",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/generic-ca.pem", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/client.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/etc/client.key",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "2000", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/etc/ca.pem", "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_BSP_EXPORT_TIMEOUT": "0",
                "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "100", "OTEL_SERVICE_NAME": "matcher-eu",
                "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,exchange.shard=9,service.name=ignored,deployment.environment=prod",
            ],
            serviceName: "exchange-matcher", location: [("shard", "1")]))
        #expect(specific.endpoint == "https://traces:4318/custom")
        #expect(specific.headers.map { "\($0.0)=\($0.1)" } == ["authorization=Bearer abc", "x-tenant=t1"])
        #expect(specific.certificateFile == "/etc/ca.pem" && specific.interval == .milliseconds(100) && specific.exportTimeout == .seconds(30))
        // An empty trace-specific setting falls back to the general one.
        #expect(specific.clientCertificateFile == "/etc/client.pem" && specific.clientKeyFile == "/etc/client.key")
        #expect(specific.requestTimeout == .seconds(2))
        // A batch is never larger than the queue.
        #expect(specific.capacity == 64 && specific.maximumBatchSpans == 64)
        // Keys are unique, the last one winning; the process's own location wins over the
        // environment's; the service name is OTEL_SERVICE_NAME's.
        #expect(specific.resource.map { "\($0.key)=\($0.value)" } == ["service.name=matcher-eu", "deployment.environment=prod", "exchange.shard=1"])
        #expect(throws: (any Error).self) {
            try EntrySpanExporter.Configuration.from(
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"],
                serviceName: "exchange-matcher", location: [])
        }
        #expect(RoleTracing.isEnabled(environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
    }
}
