/// A span that has ended, as `OTLPTraceRequest` sends it: ids as integers (big-endian on the
/// wire), times in nanoseconds since the Unix epoch.
public struct FinishedSpan: Sendable, Equatable {
    /// OTLP's `SpanKind` numbers.
    public enum Kind: UInt8, Sendable {
        case `internal` = 1, server = 2, client = 3, producer = 4, consumer = 5
    }

    public struct Attribute: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The trace's 128-bit id: `traceIDHigh` is its first 8 bytes.
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    /// Never 0.
    public var spanID: UInt64
    /// 0 for a root span.
    public var parentSpanID: UInt64
    public var name: String
    public var kind: Kind
    /// `startNanoseconds <= endNanoseconds`.
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    public var attributes: [Attribute]

    public init(
        traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, parentSpanID: UInt64, name: String, kind: Kind,
        startNanoseconds: UInt64, endNanoseconds: UInt64, attributes: [Attribute]
    ) {
        precondition(spanID != 0 && startNanoseconds <= endNanoseconds, "a span has an id and ends after it starts")
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startNanoseconds = startNanoseconds
        self.endNanoseconds = endNanoseconds
        self.attributes = attributes
    }
}

/// The ids of a sampled version-00 W3C `traceparent` (`00-{trace id}-{span id}-01`).
public struct SampledTraceParent: Sendable, Equatable {
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var spanID: UInt64

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
    }

    /// Parses `text`; nil unless it is a version-00 `traceparent` in lowercase hex with the
    /// sampled flag set and non-zero ids.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"), bytes[2] == UInt8(ascii: "-"),
              bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              let high = Self.hex(bytes[3..<19]), let low = Self.hex(bytes[19..<35]), let span = Self.hex(bytes[36..<52]),
              let flags = Self.hex(bytes[53..<55]), flags & 1 == 1, high | low != 0, span != 0 else { return nil }
        self.init(traceIDHigh: high, traceIDLow: low, spanID: span)
    }

    /// The `traceparent` text, sampled.
    public var text: String {
        var bytes = Array("00-".utf8)
        bytes.reserveCapacity(55)
        Self.appendHex(traceIDHigh, to: &bytes)
        Self.appendHex(traceIDLow, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        Self.appendHex(spanID, to: &bytes)
        bytes += Array("-01".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of up to 16 lowercase hex digits; nil if any is not one.
    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for digit in digits {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(digit - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(digit - UInt8(ascii: "a") + 10)
            default: return nil
            }
        }
        return value
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendHex(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) { bytes.append(digits[Int((value >> UInt64(shift)) & 0xF)]) }
    }
}
