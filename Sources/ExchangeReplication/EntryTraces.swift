import ExchangeCore

/// The traced orders of one log entry: for each, the W3C `traceparent` of the span that
/// carried it this far (the gateway's append, then each stage's apply).
///
/// Metadata stored beside an entry (Redis field `c`), never in its payload: state machines
/// never read it, so replay and every replica's outputs stay byte-identical whether or not a
/// command was traced. Only sampled orders appear; most entries carry none.
///
/// Wire form: ASCII `ORDERID=TRACEPARENT` pairs joined by `;`, at most `maximumTraces`.
public struct EntryTraces: Sendable, Equatable {
    public struct Trace: Sendable, Equatable {
        public var orderID: OrderID
        /// `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`, lowercase.
        public var traceParent: String

        public init(orderID: OrderID, traceParent: String) {
            self.orderID = orderID
            self.traceParent = traceParent
        }
    }

    /// Traces one entry carries, at most (an entry holds at most a few hundred commands).
    public static let maximumTraces = 1_024

    public private(set) var traces: [Trace]

    public static let none = EntryTraces()

    public init() { traces = [] }

    /// Keeps the well-formed traces of `traces`, the first `maximumTraces` of them.
    public init(_ traces: [Trace]) {
        self.traces = Array(traces.lazy.filter { Self.isTraceParent($0.traceParent) }.prefix(Self.maximumTraces))
    }

    public var isEmpty: Bool { traces.isEmpty }

    /// The traces of the orders `contains` accepts, in order.
    public func filter(orders contains: (OrderID) -> Bool) -> EntryTraces {
        EntryTraces(traces.filter { contains($0.orderID) })
    }

    /// The wire form; empty for none.
    public func encoded() -> [UInt8] {
        guard !traces.isEmpty else { return [] }
        return Array(traces.map { "\($0.orderID)=\($0.traceParent)" }.joined(separator: ";").utf8)
    }

    /// Parses the wire form; malformed pairs are dropped (a trace is worth nothing to
    /// the order path, so bad metadata never stops an entry).
    public init(decoding bytes: [UInt8]) {
        guard !bytes.isEmpty else {
            self.init()
            return
        }
        let pairs = bytes.split(separator: UInt8(ascii: ";")).compactMap { pair -> Trace? in
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1)
            guard parts.count == 2, let orderID = OrderID(String(decoding: parts[0], as: UTF8.self)) else { return nil }
            return Trace(orderID: orderID, traceParent: String(decoding: parts[1], as: UTF8.self))
        }
        self.init(pairs)
    }

    /// Whether `text` has the shape of a version-00 W3C `traceparent` (lowercase hex).
    public static func isTraceParent(_ text: String) -> Bool {
        var count = 0
        for byte in text.utf8 {
            switch count {
            case 2, 35, 52: guard byte == UInt8(ascii: "-") else { return false }
            default: guard (48...57).contains(byte) || (97...102).contains(byte) else { return false }
            }
            count += 1
            if count > 55 { return false }
        }
        return count == 55
    }

    /// A new sampled `traceparent` with random trace and span ids (for tools that start traces).
    public static func randomTraceParent<Generator: RandomNumberGenerator>(using generator: inout Generator) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes = Array("00-".utf8)
        bytes.reserveCapacity(55)
        for (words, separator) in [(2, "-"), (1, "-01")] {
            for _ in 0..<words {
                let word = generator.next()
                for shift in stride(from: 60, through: 0, by: -4) { bytes.append(digits[Int((word >> UInt64(shift)) & 0xF)]) }
            }
            bytes += Array(separator.utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
