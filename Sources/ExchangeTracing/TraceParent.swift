import ExchangeReplication
import Tracing

/// Carries a span context across a log entry as a W3C `traceparent`, through whatever
/// instrument is bootstrapped (`InstrumentationSystem`): with none, nothing is traced.
public enum TraceParent {
    private struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    private struct DictionaryExtractor: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }

    /// The `traceparent` of the span in `context`, if it is sampled; nil otherwise (untraced,
    /// unsampled, or no tracer bootstrapped): only sampled work is carried on.
    public static func sampled(in context: ServiceContext) -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        guard let traceParent = carrier["traceparent"], EntryTraces.isTraceParent(traceParent), traceParent.hasSuffix("-01") else { return nil }
        return traceParent
    }

    /// A context whose span is the one `traceParent` names (a remote parent).
    public static func context(_ traceParent: String) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceParent], into: &context, using: DictionaryExtractor())
        return context
    }
}
