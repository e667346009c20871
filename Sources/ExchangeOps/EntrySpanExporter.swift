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
public struct EntrySpanExporter: Service {
    public struct Configuration: Sendable {
        /// The full URL spans are posted to (`…/v1/traces`).
        public var endpoint: String
        public var headers: [(String, String)]
        /// A PEM file of the CA certificates to trust for an `https` endpoint, instead of the system's.
        public var certificateFile: String?
        public var interval: Duration
        /// Spans per request, at most; this many held are sent before `interval` is up.
        public var maximumBatchSpans: Int
        public var timeout: Duration
        /// The resource's attributes, `service.name` among them.
        public var resource: [FinishedSpan.Attribute]
        /// Spans held between exports, at most.
        public var capacity: Int

        /// The standard `OTEL_*` settings of `environment` (the trace-specific ones first), for
        /// a process serving as `serviceName` at `location`; nil when no endpoint is set.
        public static func from(environment: [String: String], serviceName: String, location: [(String, String)]) -> Configuration? {
            func setting(_ name: String) -> String? {
                (environment["OTEL_EXPORTER_OTLP_TRACES_\(name)"] ?? environment["OTEL_EXPORTER_OTLP_\(name)"]).flatMap { $0.isEmpty ? nil : $0 }
            }
            func positive(_ name: String, _ fallback: Int) -> Int { environment[name].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? fallback }
            let endpoint: String
            if let traces = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], !traces.isEmpty {
                endpoint = traces
            } else if let base = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
                endpoint = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/v1/traces"
            } else {
                return nil
            }
            var resource = keyValues(environment["OTEL_RESOURCE_ATTRIBUTES"] ?? "").filter { key, _ in !location.contains { "exchange.\($0.0)" == key } }
            resource += location.map { ("exchange.\($0.0)", $0.1) }
            resource.removeAll { $0.0 == "service.name" }
            resource.insert(("service.name", environment["OTEL_SERVICE_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? serviceName), at: 0)
            return Configuration(
                endpoint: endpoint, headers: keyValues(setting("HEADERS") ?? ""), certificateFile: setting("CERTIFICATE"),
                interval: .milliseconds(positive("OTEL_BSP_SCHEDULE_DELAY", 5_000)),
                maximumBatchSpans: positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), timeout: .milliseconds(positive("OTEL_BSP_EXPORT_TIMEOUT", 30_000)),
                resource: resource.map { FinishedSpan.Attribute($0.0, $0.1) }, capacity: positive("OTEL_BSP_MAX_QUEUE_SIZE", 2_048))
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
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        try? await cancelWhenGracefulShutdown {
            var lastExport = ContinuousClock.now
            while !Task.isCancelled {
                try await Task.sleep(for: checkInterval)
                guard lastExport.duration(to: .now) >= configuration.interval || recorder.heldSpans >= configuration.maximumBatchSpans else { continue }
                lastExport = .now
                await export(on: client)
            }
        }
        // What the roles recorded up to their shutdown.
        await export(on: client)
        try await client.shutdown()
    }

    /// Posts what the recorder holds, if anything, in requests of at most `maximumBatchSpans`.
    func export(on client: HTTPClient) async {
        let (spans, dropped) = recorder.drain()
        if dropped > 0 { logger.warning("tracing: \(dropped) spans dropped, more than \(configuration.capacity) between exports") }
        for start in stride(from: 0, to: spans.count, by: configuration.maximumBatchSpans) {
            await post(Array(spans[start..<min(start + configuration.maximumBatchSpans, spans.count)]), on: client)
        }
    }

    /// Posts one request carrying `spans`.
    func post(_ spans: [FinishedSpan], on client: HTTPClient) async {
        var request = HTTPClientRequest(url: configuration.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (name, value) in configuration.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: OTLPTraceRequest.encode(spans, resource: configuration.resource, scope: "exchange")))
        do {
            let (seconds, attoseconds) = configuration.timeout.components
            let response = try await client.execute(request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            _ = try? await response.body.collect(upTo: 1 << 20)
            if !(200..<300).contains(response.status.code) {
                logger.warning("tracing: the OTLP endpoint answered \(response.status.code), \(spans.count) spans dropped")
            }
        } catch {
            logger.warning("tracing: export of \(spans.count) spans failed, dropped: \(error)")
        }
    }
}
