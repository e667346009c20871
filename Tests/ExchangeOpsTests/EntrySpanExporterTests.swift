import ExchangeReplication
import ExchangeTracing
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import ExchangeOps

/// The entry span exporter against a real HTTP receiver.
@Suite("Entry span exporter")
struct EntrySpanExporterTests {
    /// How many spans named `shard.apply` an OTLP body carries (each name appears once per span).
    static func spanCount(_ body: [UInt8]) -> Int {
        let name = Array("shard.apply".utf8)
        guard body.count >= name.count else { return 0 }
        return (0...(body.count - name.count)).filter { body[$0..<($0 + name.count)].elementsEqual(name) }.count
    }

    static func traces(_ orders: ClosedRange<UInt64>) -> EntryTraces {
        EntryTraces(orders.map { .init(orderID: $0, traceParent: "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01") })
    }

    /// A receiver of `POST /v1/traces` on a free port that keeps each request's content type,
    /// `x-tenant` header and body, after waiting `delay`; returns its port and the serving task.
    static func receiver(delay: Duration = .zero) async throws -> (port: Int, received: Received, running: Task<Void, any Error>) {
        let received = Received()
        let router = Router()
        router.post("/v1/traces") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 22)
            if delay > .zero { try await Task.sleep(for: delay) }
            received.requests.withLock {
                $0.append((request.headers[.contentType], request.headers[HTTPField.Name("x-tenant")!], Array(buffer: body)))
            }
            return .ok
        }
        let (listening, running) = try await OpsEndpointTests.serve { onListening in
            Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { await onListening($0.localAddress?.port ?? 0) })
        }
        return (try #require(listening), received, running)
    }

    final class Received: Sendable {
        let requests = Mutex<[(contentType: String?, tenant: String?, body: [UInt8])]>([])
        var spanCounts: [Int] { requests.withLock { $0.map { EntrySpanExporterTests.spanCount($0.body) } } }
    }

    static func exporter(port: Int, recorder: EntrySpanRecorder) -> EntrySpanExporter {
        EntrySpanExporter(
            recorder: recorder,
            configuration: .init(
                endpoint: "http://127.0.0.1:\(port)/v1/traces", headers: [("x-tenant", "t1")], certificateFile: nil, clientCertificateFile: nil,
                clientKeyFile: nil, interval: .seconds(3_600), maximumBatchSpans: 512, requestTimeout: .seconds(5), exportTimeout: .seconds(10),
                resource: [.init("service.name", "exchange-matcher")], capacity: 4_096),
            logger: Logger(label: "test"))
    }

    @Test("spans go out as protobuf posts of at most a batch, before the interval once a batch is held, and the rest at shutdown")
    func exportsInBatchesAndFlushesAtShutdown() async throws {
        let (port, received, running) = try await Self.receiver()
        defer { running.cancel() }
        let recorder = EntrySpanRecorder(capacity: 4_096)
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(1...600), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(601...1_100), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        let group = ServiceGroup(services: [Self.exporter(port: port, recorder: recorder)], logger: Logger(label: "test"))
        let exporting = Task { try await group.run() }

        // 1,100 held: more than a batch, so they go long before the hour is up, 512 per request.
        for _ in 0..<500 where received.requests.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.spanCounts == [512, 512, 76])
        #expect(received.requests.withLock { $0.allSatisfy { $0.contentType == "application/x-protobuf" && $0.tenant == "t1" } })

        // Fewer than a batch wait for the interval, or for the shutdown.
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(1...10), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        try await Task.sleep(for: .milliseconds(300))
        #expect(received.requests.withLock { $0.count } == 3)
        await group.triggerGracefulShutdown()
        try await exporting.value
        #expect(received.spanCounts == [512, 512, 76, 10])
        #expect(recorder.heldSpans == 0)
    }

    @Test("a shutdown during an export lets it finish: no span taken for it is lost")
    func shutdownDuringAnExportLosesNothing() async throws {
        // Each request takes 300 ms to answer, so the shutdown lands while the first is in flight.
        let (port, received, running) = try await Self.receiver(delay: .milliseconds(300))
        defer { running.cancel() }
        let recorder = EntrySpanRecorder(capacity: 4_096)
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(1...1_000), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        let group = ServiceGroup(services: [Self.exporter(port: port, recorder: recorder)], logger: Logger(label: "test"))
        let exporting = Task { try await group.run() }
        for _ in 0..<500 where recorder.heldSpans > 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(recorder.heldSpans == 0)
        await group.triggerGracefulShutdown()
        try await exporting.value
        #expect(received.spanCounts == [512, 488])
    }
}
