import AsyncHTTPClient
import ExchangeTracing
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Sends what the process's `EntrySpanRecorder` holds to an OTLP/HTTP endpoint
/// (`OTLPTraceRequest`, at most `maximumBatchSpans` spans per request): every `interval`,
/// sooner once `maximumBatchSpans` are held (it looks every `checkInterval`: the recorder
/// wakes nobody), and once more when the group shuts down. Runs on the global executor, away
/// from the replicas' loops. A refused or failed request is logged and its spans are dropped,
/// as the OTel SDK's batch processor drops them; so are spans the recorder had no room for.
///
/// A shutdown never interrupts an export: it ends the wait between exports, then one last
/// export sends what is left. Every export, the last one too, ends within `exportTimeout`.
public struct EntrySpanExporter: Service {
    public struct Configuration: Sendable {
        /// The full URL spans are posted to (`…/v1/traces`).
        public var endpoint: String
        /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), values percent-decoded.
        public var headers: [(String, String)]
        /// A PEM file of the CA certificates to trust for an `https` endpoint, instead of the system's.
        public var certificateFile: String?
        /// PEM files of the client certificate chain and its key, for a collector that asks for one (mutual TLS).
        public var clientCertificateFile: String?
        public var clientKeyFile: String?
        /// The longest wait between two exports.
        public var interval: Duration
        /// Spans per request, at most (≤ `capacity`); this many held are sent before `interval` is up.
        public var maximumBatchSpans: Int
        /// How long one request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`).
        public var requestTimeout: Duration
        /// How long one export, all its requests together, may take (`OTEL_BSP_EXPORT_TIMEOUT`).
        public var exportTimeout: Duration
        /// The resource's attributes, unique keys, `service.name` first.
        public var resource: [FinishedSpan.Attribute]
        /// Spans held between exports, at most.
        public var capacity: Int

        /// The standard `OTEL_*` settings of `environment` (the trace-specific ones first; an
        /// empty one counts as unset), for a process serving as `serviceName` at `location`;
        /// nil when no endpoint is set. Throws for a protocol other than `http/protobuf`.
        public static func from(environment: [String: String], serviceName: String, location: [(String, String)]) throws -> Configuration? {
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            func setting(_ name: String) -> String? { value("OTEL_EXPORTER_OTLP_TRACES_\(name)") ?? value("OTEL_EXPORTER_OTLP_\(name)") }
            /// A positive integer setting, at most `limit`.
            func positive(_ name: String, _ fallback: Int, limit: Int = 3_600_000) -> Int {
                min(value(name).flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? fallback, limit)
            }
            let endpoint: String
            if let traces = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                endpoint = traces
            } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
                endpoint = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/v1/traces"
            } else {
                return nil
            }
            if let protocolName = setting("PROTOCOL"), protocolName != "http/protobuf" {
                throw EntrySpanExporterError.unsupportedProtocol(protocolName)
            }
            // Later members win over earlier ones, the process's location over the environment,
            // and the service name is OTEL_SERVICE_NAME's or the role's.
            var resource: [(String, String)] = []
            for (key, value) in keyValues(value("OTEL_RESOURCE_ATTRIBUTES") ?? "") + location.map({ ("exchange.\($0.0)", $0.1) }) {
                resource.removeAll { $0.0 == key }
                resource.append((key, value))
            }
            resource.removeAll { $0.0 == "service.name" }
            resource.insert(("service.name", value("OTEL_SERVICE_NAME") ?? serviceName), at: 0)
            let capacity = positive("OTEL_BSP_MAX_QUEUE_SIZE", 2_048, limit: 1 << 20)
            return Configuration(
                endpoint: endpoint, headers: keyValues(setting("HEADERS") ?? ""), certificateFile: setting("CERTIFICATE"),
                clientCertificateFile: setting("CLIENT_CERTIFICATE"), clientKeyFile: setting("CLIENT_KEY"),
                interval: .milliseconds(positive("OTEL_BSP_SCHEDULE_DELAY", 5_000)),
                maximumBatchSpans: min(positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, limit: 1 << 20), capacity),
                requestTimeout: .milliseconds(positive("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", positive("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000))),
                exportTimeout: .milliseconds(positive("OTEL_BSP_EXPORT_TIMEOUT", 30_000)),
                resource: resource.map { FinishedSpan.Attribute($0.0, $0.1) }, capacity: capacity)
        }

        /// The pairs of a W3C-baggage-style list, `key1=value1,key2=value2`, values percent-decoded;
        /// malformed members are skipped.
        static func keyValues(_ text: String) -> [(String, String)] {
            text.split(separator: ",").compactMap { member in
                let parts = member.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                let key = parts[0].trimmingCharacters(in: .whitespaces)
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                guard !key.isEmpty else { return nil }
                return (key, value.removingPercentEncoding ?? value)
            }
        }
    }

    let recorder: EntrySpanRecorder
    let configuration: Configuration
    let logger: Logger
    /// How often the exporter looks whether a batch is full.
    var checkInterval: Duration { min(configuration.interval, .milliseconds(100)) }

    public init(recorder: EntrySpanRecorder, configuration: Configuration, logger: Logger) {
        self.recorder = recorder
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = configuration.certificateFile { tls.trustRoots = .file(file) }
        if let certificate = configuration.clientCertificateFile, let key = configuration.clientKeyFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            // PEM whatever the file's name (`.file` would read a `.key` file as DER).
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var clientConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        // Exporting spans must not make spans (AsyncHTTPClient traces its requests with the global tracer).
        clientConfiguration.tracing.tracer = nil
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)
        var lastExport = ContinuousClock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // Only the wait ends at a shutdown: an export in flight finishes.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: checkInterval) }
            guard lastExport.duration(to: .now) >= configuration.interval || recorder.heldSpans >= configuration.maximumBatchSpans else { continue }
            lastExport = .now
            await export(on: client)
        }
        // What the roles recorded up to their shutdown.
        await export(on: client)
        try await client.shutdown()
    }

    /// Posts what the recorder holds, if anything, in requests of at most `maximumBatchSpans`,
    /// all within `exportTimeout`: what is left past it is dropped.
    func export(on client: HTTPClient) async {
        let (spans, dropped) = recorder.drain()
        if dropped > 0 { logger.warning("tracing: \(dropped) spans dropped, more than \(configuration.capacity) between exports") }
        let deadline = ContinuousClock.now + configuration.exportTimeout
        for start in stride(from: 0, to: spans.count, by: configuration.maximumBatchSpans) {
            let batch = Array(spans[start..<min(start + configuration.maximumBatchSpans, spans.count)])
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else {
                logger.warning("tracing: export took longer than \(configuration.exportTimeout), \(spans.count - start) spans dropped")
                return
            }
            await post(batch, on: client, timeout: min(left, configuration.requestTimeout))
        }
    }

    /// Posts one request carrying `spans`, waiting at most `timeout` (at most an hour: the settings are capped).
    func post(_ spans: [FinishedSpan], on client: HTTPClient, timeout: Duration) async {
        var request = HTTPClientRequest(url: configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (name, value) in configuration.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: OTLPTraceRequest.encode(spans, resource: configuration.resource, scope: "exchange")))
        do {
            let (seconds, attoseconds) = timeout.components
            let response = try await client.execute(request, timeout: .milliseconds(max(1, seconds * 1_000 + attoseconds / 1_000_000_000_000_000)))
            _ = try? await response.body.collect(upTo: 1 << 20)
            if !(200..<300).contains(response.status.code) {
                logger.warning("tracing: the OTLP endpoint answered \(response.status.code), \(spans.count) spans dropped")
            }
        } catch {
            logger.warning("tracing: export of \(spans.count) spans failed, dropped: \(error)")
        }
    }
}

enum EntrySpanExporterError: Error, CustomStringConvertible {
    case unsupportedProtocol(String)

    var description: String {
        switch self {
        case .unsupportedProtocol(let name): "OTEL_EXPORTER_OTLP_PROTOCOL=\(name): only http/protobuf is supported"
        }
    }
}
