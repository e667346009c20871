import ExchangeCore

/// The body of an OTLP/HTTP trace export (`POST /v1/traces`, `application/x-protobuf`): an
/// `ExportTraceServiceRequest` of opentelemetry-proto's `collector/trace/v1`, written field by
/// field. One resource, one instrumentation scope, every span as a `Span` with its ids, name,
/// kind, times and string attributes (the fields `FinishedSpan` has; the rest stay unset).
public enum OTLPTraceRequest {
    /// The protobuf bytes of a request carrying `spans` under one resource with `resource`'s
    /// attributes (`service.name` among them) and the scope `scope`.
    public static func encode(_ spans: [FinishedSpan], resource: [FinishedSpan.Attribute], scope: String) -> [UInt8] {
        var resourceMessage = ProtobufWriter()
        for attribute in resource { resourceMessage.message(1, keyValue(attribute)) }  // Resource.attributes
        var scopeMessage = ProtobufWriter()
        scopeMessage.string(1, scope)  // InstrumentationScope.name
        var scopeSpans = ProtobufWriter()
        scopeSpans.message(1, scopeMessage.bytes)  // ScopeSpans.scope
        for span in spans { scopeSpans.message(2, encode(span)) }  // ScopeSpans.spans
        var resourceSpans = ProtobufWriter()
        resourceSpans.message(1, resourceMessage.bytes)  // ResourceSpans.resource
        resourceSpans.message(2, scopeSpans.bytes)  // ResourceSpans.scope_spans
        var request = ProtobufWriter()
        request.message(1, resourceSpans.bytes)  // ExportTraceServiceRequest.resource_spans
        return request.bytes
    }

    /// One `Span` message.
    static func encode(_ span: FinishedSpan) -> [UInt8] {
        var message = ProtobufWriter()
        message.bigEndian(1, [span.traceIDHigh, span.traceIDLow])  // trace_id
        message.bigEndian(2, [span.spanID])  // span_id
        if span.parentSpanID != 0 { message.bigEndian(4, [span.parentSpanID]) }  // parent_span_id
        message.string(5, span.name)  // name
        message.varint(6, UInt64(span.kind.rawValue))  // kind
        message.fixed64(7, span.startNanoseconds)  // start_time_unix_nano
        message.fixed64(8, span.endNanoseconds)  // end_time_unix_nano
        for attribute in span.attributes { message.message(9, keyValue(attribute)) }  // attributes
        return message.bytes
    }

    /// A `KeyValue` with a string `AnyValue`.
    static func keyValue(_ attribute: FinishedSpan.Attribute) -> [UInt8] {
        var value = ProtobufWriter()
        value.string(1, attribute.value)  // AnyValue.string_value
        var pair = ProtobufWriter()
        pair.string(1, attribute.key)  // KeyValue.key
        pair.message(2, value.bytes)  // KeyValue.value
        return pair.bytes
    }
}

/// Writes protobuf fields (proto3 wire format) in the order they are given: a tag, then the
/// value in `BinaryWriter`'s forms, which are protobuf's (LEB128 varints, little-endian fixed64,
/// varint-length-prefixed blocks).
struct ProtobufWriter {
    private var writer = BinaryWriter()
    var bytes: [UInt8] { writer.bytes }

    private enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2
    }

    private mutating func tag(_ field: UInt64, _ type: WireType) { writer.writeVarint(field << 3 | type.rawValue) }

    mutating func varint(_ field: UInt64, _ value: UInt64) {
        tag(field, .varint)
        writer.writeVarint(value)
    }

    mutating func fixed64(_ field: UInt64, _ value: UInt64) {
        tag(field, .fixed64)
        writer.writeFixed64(value)
    }

    mutating func message(_ field: UInt64, _ encoded: [UInt8]) {
        tag(field, .lengthDelimited)
        writer.writeBlock(encoded)
    }

    mutating func string(_ field: UInt64, _ text: String) {
        tag(field, .lengthDelimited)
        writer.writeString(text)
    }

    /// `words` as bytes, each most significant byte first (ids on the wire).
    mutating func bigEndian(_ field: UInt64, _ words: [UInt64]) {
        tag(field, .lengthDelimited)
        writer.writeVarint(UInt64(words.count * 8))
        for word in words { withUnsafeBytes(of: word.bigEndian) { writer.writeBytes(Array($0)) } }
    }
}
