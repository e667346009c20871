import ExchangeBench
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Histogram
import Testing

@Suite struct LatencyPlotTests {
    @Test("the plot is well-formed XML with one curve and one legend entry per series")
    func wellFormed() throws {
        var fast = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
        var slow = fast
        for value in 1...10_000 {
            _ = fast.record(UInt64(50 + value % 100))
            _ = slow.record(UInt64(500 + value % 10_000))
        }
        let svg = LatencyPlot.svg(title: "a < b & c", series: [.init(label: "fast", histogram: fast), .init(label: "slow", histogram: slow)])
        let document = try XMLDocument(xmlString: svg)
        #expect(document.rootElement()?.name == "svg")
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.contains(">fast<") && svg.contains(">slow<"))
        #expect(svg.contains("a &lt; b &amp; c"))
    }
}
