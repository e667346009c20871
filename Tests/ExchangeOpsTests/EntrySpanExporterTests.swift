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

    @Test("spans go out as protobuf posts of at most a batch, before the interval once a batch is held, and the rest at shutdown")
    func exportsInBatchesAndFlushesAtShutdown() async throws {
        let received = Mutex<[(contentType: String?, tenant: String?, body: [UInt8])]>([])
        let router = Router()
        router.post("/v1/traces") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 22)
            received.withLock {
                $0.append((request.headers[.contentType], request.headers[HTTPField.Name("x-tenant")!], Array(buffer: body)))
            }
            return .ok
        }
        let (listening, running) = try await OpsEndpointTests.serve { onListening in
            Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { await onListening($0.localAddress?.port ?? 0) })
        }
        defer { running.cancel() }
        let port = try #require(listening)

        let recorder = EntrySpanRecorder(capacity: 4_096)
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(1...600), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(601...1_100), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        let exporter = EntrySpanExporter(
            recorder: recorder,
            configuration: .init(
                endpoint: "http://127.0.0.1:\(port)/v1/traces", headers: [("x-tenant", "t1")], certificateFile: nil, interval: .seconds(3_600),
                maximumBatchSpans: 512, timeout: .seconds(5), resource: [.init("service.name", "exchange-matcher")], capacity: 4_096),
            logger: Logger(label: "test"))
        let group = ServiceGroup(services: [exporter], logger: Logger(label: "test"))
        let exporting = Task { try await group.run() }

        // 1,100 held: more than a batch, so they go long before the hour is up, 512 per request.
        for _ in 0..<500 where received.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(received.withLock { $0.map { Self.spanCount($0.body) } } == [512, 512, 76])
        #expect(received.withLock { $0.allSatisfy { $0.contentType == "application/x-protobuf" && $0.tenant == "t1" } })

        // Fewer than a batch wait for the interval, or for the shutdown.
        _ = recorder.record("shard.apply", kind: .consumer, traces: Self.traces(1...10), startNanoseconds: 1, endNanoseconds: 2, attributes: [])
        try await Task.sleep(for: .milliseconds(300))
        #expect(received.withLock { $0.count } == 3)
        await group.triggerGracefulShutdown()
        try await exporting.value
        #expect(received.withLock { $0.map { Self.spanCount($0.body) } } == [512, 512, 76, 10])
        #expect(recorder.heldSpans == 0)
    }
}
