import ExchangeReplication
import Testing

struct EntryTracesTests {
    static let first = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    static let second = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test("the wire form round-trips; none is empty")
    func roundTrip() {
        let traces = EntryTraces([.init(orderID: 7, traceParent: Self.first), .init(orderID: 1 << 60, traceParent: Self.second)])
        #expect(String(decoding: traces.encoded(), as: UTF8.self) == "7=\(Self.first);\(1 << 60)=\(Self.second)")
        #expect(EntryTraces(decoding: traces.encoded()) == traces)
        #expect(EntryTraces.none.encoded().isEmpty && EntryTraces(decoding: []).isEmpty)
    }

    @Test("malformed pairs and trace parents are dropped, never fatal")
    func malformed() {
        let bytes = Array("x=\(Self.first);8=00-short-01;9;10=\(Self.second.uppercased());11=\(Self.second)".utf8)
        #expect(EntryTraces(decoding: bytes).traces == [.init(orderID: 11, traceParent: Self.second)])
        #expect(!EntryTraces.isTraceParent("00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01"))
        #expect(EntryTraces.isTraceParent(Self.first))
    }

    @Test("filter keeps the traces of the orders asked for, in order")
    func filter() {
        let traces = EntryTraces([.init(orderID: 1, traceParent: Self.first), .init(orderID: 2, traceParent: Self.second)])
        #expect(traces.filter { $0 == 2 }.traces.map(\.orderID) == [2])
        #expect(traces.filter { _ in false }.isEmpty)
    }

    @Test("at most maximumTraces per entry")
    func bounded() {
        let many = (0..<UInt64(EntryTraces.maximumTraces + 5)).map { EntryTraces.Trace(orderID: $0, traceParent: Self.first) }
        #expect(EntryTraces(many).traces.count == EntryTraces.maximumTraces)
    }

    @Test("random trace parents are well-formed, sampled and distinct")
    func random() {
        var generator = SystemRandomNumberGenerator()
        let made = (0..<100).map { _ in EntryTraces.randomTraceParent(using: &generator) }
        #expect(made.allSatisfy { EntryTraces.isTraceParent($0) && $0.hasPrefix("00-") && $0.hasSuffix("-01") })
        #expect(Set(made).count == 100)
        #expect(!EntryTraces.isTraceParent(Self.first + "0") && !EntryTraces.isTraceParent(String(Self.first.dropLast())))
    }
}
