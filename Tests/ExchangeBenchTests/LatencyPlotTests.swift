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

@Suite struct LatencyOverTimeTests {
    @Test("windows split samples by append time and weigh each command once")
    func windows() {
        let samples: [LatencyOverTime.Sample] = [
            .init(appendedAt: 1_000, latency: 10, weight: 98),
            .init(appendedAt: 1_050, latency: 900, weight: 2),
            // Nothing appended in the second window.
            .init(appendedAt: 1_250, latency: 40, weight: 1),
            .init(appendedAt: 1_299, latency: 20, weight: 3),
        ]
        let windows = LatencyOverTime.windows(samples, interval: 100)
        #expect(windows == [
            .init(p50: 10, p99: 900, max: 900),
            .init(p50: 0, p99: 0, max: 0),
            .init(p50: 20, p99: 40, max: 40),
        ])
        #expect(LatencyOverTime.windows([], interval: 100).isEmpty)
    }

    @Test("the over-time plot draws one step line per series, with a legend")
    func plot() throws {
        let svg = RatePlot.svg(title: "latency", series: [("p50", [1, 2, 3]), ("p99", [5, 8, 13])], interval: .milliseconds(100), yLabel: "µs")
        let document = try XMLDocument(xmlString: svg)
        #expect(document.rootElement()?.name == "svg")
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.contains(">p50<") && svg.contains(">p99<"))
    }
}
