import ExchangeReplication
import Synchronization

/// Holds the spans a process's replicas record for the traced orders of the entries they
/// apply, until the exporter (`EntrySpanExporter`) takes them. Recording is a lock, a random
/// id and an append: no task is woken and nothing is sent, so a primary's loop can record
/// between steps and carry the new spans' contexts on with its outputs at once.
///
/// Invariant: at most `capacity` spans wait; a span recorded past that is dropped and counted
/// (its trace misses that one span, the order nothing).
public final class EntrySpanRecorder: Sendable {
    private struct State {
        var spans: [FinishedSpan] = []
        var dropped = 0
    }

    /// Spans held at most between two exports.
    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        precondition(capacity > 0, "a recorder holds at least one span")
        self.capacity = capacity
    }

    /// Records a span named `name` of `kind` per trace of `traces`, child of the span the trace
    /// names, from `startNanoseconds` to `endNanoseconds` (since the Unix epoch), with
    /// `attributes` and the order id as `exchange.order_id`; returns the traces under the new
    /// spans. A trace that is not a sampled `traceparent` is not carried on.
    public func record(
        _ name: String, kind: FinishedSpan.Kind, traces: EntryTraces, startNanoseconds: UInt64, endNanoseconds: UInt64,
        attributes: [FinishedSpan.Attribute]
    ) -> EntryTraces {
        var spans: [FinishedSpan] = []
        let children = EntryTraces(traces.traces.compactMap { trace -> EntryTraces.Trace? in
            guard let parent = SampledTraceParent(trace.traceParent) else { return nil }
            var generator = SystemRandomNumberGenerator()
            var spanID: UInt64 = 0
            while spanID == 0 { spanID = generator.next() }
            spans.append(FinishedSpan(
                traceIDHigh: parent.traceIDHigh, traceIDLow: parent.traceIDLow, spanID: spanID, parentSpanID: parent.spanID, name: name,
                kind: kind, startNanoseconds: startNanoseconds, endNanoseconds: max(startNanoseconds, endNanoseconds),
                attributes: [FinishedSpan.Attribute("exchange.order_id", String(trace.orderID))] + attributes))
            let child = SampledTraceParent(traceIDHigh: parent.traceIDHigh, traceIDLow: parent.traceIDLow, spanID: spanID)
            return EntryTraces.Trace(orderID: trace.orderID, traceParent: child.text)
        })
        state.withLock { state in
            let room = max(0, capacity - state.spans.count)
            state.spans += spans.prefix(room)
            state.dropped += max(0, spans.count - room)
        }
        return children
    }

    /// Spans held now.
    public var heldSpans: Int { state.withLock { $0.spans.count } }

    /// Takes every span held, and how many were dropped since the last call.
    public func drain() -> (spans: [FinishedSpan], dropped: Int) {
        state.withLock { state in
            defer { state = State() }
            return (state.spans, state.dropped)
        }
    }
}
