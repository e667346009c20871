import ExchangeReplication
import Synchronization
import Tracing

/// Records a stage of the order path for the traced orders of entries a primary applied:
/// one span per traced order, child of the span that carried it in, timed by the step that
/// applied it. Only entries that carry traces (sampled orders) get here, so an untraced order
/// costs one emptiness test.
///
/// The spans go to the process's `EntrySpanRecorder` (bootstrapped once, when tracing is on),
/// not through swift-otel's tracer: that tracer makes a span's id itself and hands every span
/// start and end to a task through an `AsyncStream`, a wake-up on the primary's loop thread
/// per event, and the entry's outputs must carry the new span's id before it ends.
public enum EntrySpans {
    private static let recorder = Mutex<EntrySpanRecorder?>(nil)

    /// Makes `recorder` the process's, for every `record` after this.
    public static func bootstrap(_ recorder: EntrySpanRecorder) {
        self.recorder.withLock { $0 = recorder }
    }

    /// Records a consumer span named `name` per trace of `traces`, from `start` to `end`, with
    /// `attributes` (and the order id as `exchange.order_id`); returns the traces under the
    /// new spans, to travel on with what the entry emitted: none when no recorder is
    /// bootstrapped (tracing off). Where the work ran (shard or partition, replica) is the
    /// exporter's resource, not repeated on each span.
    public static func record(
        _ name: String, traces: EntryTraces, start: DefaultTracerClock.Instant, end: DefaultTracerClock.Instant,
        attributes: [(String, String)]
    ) -> EntryTraces {
        guard let recorder = recorder.withLock({ $0 }) else { return .none }
        return recorder.record(
            name, kind: .consumer, traces: traces, startNanoseconds: start.nanosecondsSinceEpoch, endNanoseconds: end.nanosecondsSinceEpoch,
            attributes: attributes.map { FinishedSpan.Attribute($0.0, $0.1) })
    }

    /// Runs `body` under a span named `name`, child of the span `traceParent` names; just
    /// runs it when there is none.
    public static func child<Result>(
        of traceParent: String?, _ name: String, attributes: @autoclosure () -> [(String, String)], _ body: () throws -> Result
    ) rethrows -> Result {
        guard let traceParent else { return try body() }
        let span = startSpan(name, context: TraceParent.context(traceParent), ofKind: .producer)
        for (key, value) in attributes() { span.attributes[key] = value }
        defer { span.end() }
        return try body()
    }
}
