import ExchangeReplication
import Tracing

/// Records a stage of the order path for the traced orders of entries a primary applied:
/// one span per traced order, child of the span that carried it in, timed by the step that
/// applied it. Runs after the step, off the state machine's thread, and only for entries
/// that carry traces (sampled orders), so an untraced order costs one emptiness test.
public enum EntrySpans {
    /// Ends a span named `name` per trace of `traces`, from `start` to `end`, with
    /// `attributes` (and the order id as `exchange.order_id`); returns the traces under the
    /// new spans, to travel on with what the entry emitted. Where the work ran (shard or
    /// partition, replica) is the tracer's resource, not repeated on each span.
    public static func record(
        _ name: String, traces: EntryTraces, start: DefaultTracerClock.Instant, end: DefaultTracerClock.Instant,
        attributes: [(String, String)]
    ) -> EntryTraces {
        EntryTraces(traces.traces.compactMap { trace in
            let span = startSpan(name, at: start, context: TraceParent.context(trace.traceParent), ofKind: .consumer)
            span.attributes["exchange.order_id"] = "\(trace.orderID)"
            for (key, value) in attributes { span.attributes[key] = value }
            defer { span.end(at: end) }
            return TraceParent.sampled(in: span.context).map { EntryTraces.Trace(orderID: trace.orderID, traceParent: $0) }
        })
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
