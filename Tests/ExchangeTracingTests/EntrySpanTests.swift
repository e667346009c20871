import ExchangeReplication
import Testing

@testable import ExchangeTracing

@Suite("Entry spans: traceparent ids, the recorder, the OTLP body")
struct EntrySpanTests {
    static let parent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"

    @Test func traceParentRoundTrips() throws {
        let parsed = try #require(SampledTraceParent(Self.parent))
        #expect(parsed == SampledTraceParent(traceIDHigh: 0x0af7_6519_16cd_43dd, traceIDLow: 0x8448_eb21_1c80_319c, spanID: 0x00f0_67aa_0ba9_02b7))
        #expect(parsed.text == Self.parent)
    }

    @Test(arguments: [
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00",  // not sampled
        "00-0AF7651916CD43DD8448EB211C80319C-00f067aa0ba902b7-01",  // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // zero span id
        "01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",  // another version
        "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-",  // too long
        "",
    ])
    func traceParentRefuses(_ text: String) {
        #expect(SampledTraceParent(text) == nil)
    }

    @Test func recorderMakesChildrenAndHoldsTheirSpans() throws {
        let recorder = EntrySpanRecorder(capacity: 8)
        let traces = EntryTraces([.init(orderID: 42, traceParent: Self.parent), .init(orderID: 43, traceParent: "not a traceparent")])
        let children = recorder.record(
            "shard.apply", kind: .consumer, traces: traces, startNanoseconds: 100, endNanoseconds: 250,
            attributes: [.init("exchange.log_position", "7")])
        // The unreadable trace is not carried on; the other goes on under a new span of the same trace.
        #expect(children.traces.map(\.orderID) == [42])
        let child = try #require(SampledTraceParent(children.traces[0].traceParent))
        let parent = try #require(SampledTraceParent(Self.parent))
        #expect(child.traceIDHigh == parent.traceIDHigh && child.traceIDLow == parent.traceIDLow && child.spanID != parent.spanID)
        let (spans, dropped) = recorder.drain()
        #expect(dropped == 0)
        #expect(spans == [FinishedSpan(
            traceIDHigh: parent.traceIDHigh, traceIDLow: parent.traceIDLow, spanID: child.spanID, parentSpanID: parent.spanID,
            name: "shard.apply", kind: .consumer, startNanoseconds: 100, endNanoseconds: 250,
            attributes: [.init("exchange.order_id", "42"), .init("exchange.log_position", "7")])])
        #expect(recorder.drain().spans.isEmpty)
    }

    @Test func recorderDropsPastItsCapacityAndCounts() {
        let recorder = EntrySpanRecorder(capacity: 3)
        let traces = EntryTraces((1...2).map { EntryTraces.Trace(orderID: $0, traceParent: Self.parent) })
        for _ in 0..<3 {
            // Every order is still carried on, with or without room for its span.
            #expect(recorder.record("clearing.apply", kind: .consumer, traces: traces, startNanoseconds: 1, endNanoseconds: 2, attributes: []).traces.count == 2)
        }
        let (spans, dropped) = recorder.drain()
        #expect(spans.count == 3 && dropped == 3)
        #expect(recorder.drain().dropped == 0)
    }

    /// The expected bytes are what opentelemetry-proto's Python classes serialise for the same
    /// request (`ExportTraceServiceRequest.SerializeToString()`, opentelemetry-proto 1.x).
    @Test func otlpBodyIsWhatTheOfficialDefinitionsWrite() {
        let spans = [
            FinishedSpan(
                traceIDHigh: 0x0af7_6519_16cd_43dd, traceIDLow: 0x8448_eb21_1c80_319c, spanID: 0xb7ad_6b71_6920_3331,
                parentSpanID: 0x00f0_67aa_0ba9_02b7, name: "shard.apply", kind: .consumer, startNanoseconds: 1_765_000_000_123_456_789,
                endNanoseconds: 1_765_000_000_123_999_999, attributes: [.init("exchange.order_id", "42"), .init("exchange.log_position", "7")]),
            FinishedSpan(
                traceIDHigh: 0x0af7_6519_16cd_43dd, traceIDLow: 0x8448_eb21_1c80_319c, spanID: 1, parentSpanID: 0, name: "root", kind: .server,
                startNanoseconds: 5, endNanoseconds: 300, attributes: []),
        ]
        let body = OTLPTraceRequest.encode(
            spans, resource: [.init("service.name", "exchange-matcher"), .init("exchange.shard", "1")], scope: "exchange")
        let expected = """
            0a87020a3b0a220a0c736572766963652e6e616d6512120a1065786368616e67652d6d6174636865720a150a0e65786368616e67652e736861726412030a01311\
            2c7010a0a0a0865786368616e67651280010a100af7651916cd43dd8448eb211c80319c1208b7ad6b7169203331220800f067aa0ba902b72a0b73686172642e61\
            70706c79300539154dec13268a7e1841ff96f413268a7e184a190a1165786368616e67652e6f726465725f696412040a0234324a1c0a1565786368616e67652e6c\
            6f675f706f736974696f6e12030a013712360a100af7651916cd43dd8448eb211c80319c120800000000000000012a04726f6f743002390500000000000000412c\
            01000000000000
            """
        #expect(body.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() == expected)
    }
}
