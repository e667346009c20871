import ExchangeCore
import ExchangeOrderFlow
import ExchangeTesting
import Foundation
import Testing

/// The reference engine is only useful if it is right on its own: it must reproduce the
/// shared example outputs without the fast engine's help.
@Suite struct ReferenceMatchingEngineTests {
    static let examples: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/formats/examples")

    @Test("replays the shared examples to their expected output", arguments: ["basic", "stp-mixed", "five-symbols"])
    func examples(name: String) throws {
        let text = try String(contentsOf: Self.examples.appendingPathComponent("\(name).flow"), encoding: .utf8)
        let expected = try String(contentsOf: Self.examples.appendingPathComponent("\(name).expected"), encoding: .utf8)
        let flow = try OrderFlowParser.parse(text)
        var reference = ReferenceMatchingEngine()
        var events: [MatchingEvent] = []
        for case .command(let command) in flow.entries { events += reference.apply(command) }
        let output = FlowReplay.output(flow: flow, events: events) { symbolID, side in
            reference.restingOrders(of: symbolID, side: side).map { ($0.0, Price(ticks: $0.2), Quantity(lots: $0.4)) }
        }
        #expect(output == expected)
    }

    @Test("the random command generator is reproducible from its seed and covers every command kind")
    func generator() {
        var first = RandomCommandGenerator(seed: 77)
        var second = RandomCommandGenerator(seed: 77)
        var kinds: Set<String> = []
        for _ in 0..<2_000 {
            let command = first.next()
            #expect(command == second.next())
            switch command {
            case .place(let order): kinds.insert("place-\(order.type)-\(order.timeInForce)-\(order.selfTradePrevention)")
            case .cancel: kinds.insert("cancel")
            case .amend: kinds.insert("amend")
            case .addSymbol: kinds.insert("addSymbol")
            case .setSymbolStatus: kinds.insert("setSymbolStatus")
            case .setSymbolFilters: kinds.insert("setSymbolFilters")
            }
        }
        #expect(kinds.contains("cancel") && kinds.contains("amend") && kinds.contains("setSymbolStatus") && kinds.contains("setSymbolFilters"))
        for timeInForce in TimeInForce.allCases {
            for stp in SelfTradePrevention.allCases {
                #expect(kinds.contains("place-\(OrderType.limit)-\(timeInForce)-\(stp)"), "limit \(timeInForce) \(stp)")
            }
        }
    }
}
