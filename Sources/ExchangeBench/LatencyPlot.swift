import Foundation
import Histogram

/// Draws latency-by-percentile curves as an SVG (the HdrHistogram "nines" view): x is the
/// percentile on a log scale of 1/(1-p) up to 99.999%, y the latency in nanoseconds on a log
/// scale. One curve per series, with a legend.
public enum LatencyPlot {
    public struct Series {
        public var label: String
        public var histogram: Histogram<UInt64>
        public init(label: String, histogram: Histogram<UInt64>) {
            self.label = label
            self.histogram = histogram
        }
    }

    public static func svg(title: String, series: [Series], yLabel: String = "latency per command") -> String {
        // Room on the right for the longest legend label (about 7 px per character at 12 px).
        let legendWidth = Double(series.map(\.label.count).max() ?? 0) * 7 + 60
        let right = max(200.0, legendWidth)
        let width = 660.0 + right, height = 520.0
        let left = 80.0, top = 50.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maximumNines = 5.0
        let percentiles = stride(from: 0.0, through: maximumNines, by: 0.05).map { 100 * (1 - pow10(-$0)) }
        let values = series.flatMap { s in percentiles.map { Double(max(1, s.histogram.valueAtPercentile($0))) } }
        let lowDecade = (values.min() ?? 1).log10Floor
        let highDecade = max(lowDecade + 1, (values.max() ?? 10).log10Ceiling)
        func x(_ nines: Double) -> Double { left + plotWidth * nines / maximumNines }
        func y(_ value: Double) -> Double {
            top + plotHeight * (1 - (log10(max(value, 1)) - lowDecade) / (highDecade - lowDecade))
        }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for decade in Int(lowDecade)...Int(highDecade) {
            let value = pow10(Double(decade))
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(y(value))\" y2=\"\(y(value))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(value) + 4)\" text-anchor=\"end\">\(durationLabel(value))</text>\n"
        }
        let tickLabels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        for (nines, label) in tickLabels.enumerated() {
            let position = x(Double(nines))
            svg += "<line x1=\"\(position)\" x2=\"\(position)\" y1=\"\(top)\" y2=\"\(top + plotHeight)\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(position)\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 14)\" text-anchor=\"middle\">percentile</text>\n"
        svg += "<text x=\"18\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + plotHeight / 2))\">\(escape(yLabel))</text>\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        for (index, entry) in series.enumerated() {
            let color = colors[index % colors.count]
            let points = stride(from: 0.0, through: maximumNines, by: 0.05).map { nines -> String in
                let value = Double(max(1, entry.histogram.valueAtPercentile(100 * (1 - pow10(-nines)))))
                return "\(x(nines)),\(y(value))"
            }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            let legendY = top + 16 + Double(index) * 18
            svg += "<line x1=\"\(left + plotWidth + 14)\" x2=\"\(left + plotWidth + 34)\" y1=\"\(legendY - 4)\" y2=\"\(legendY - 4)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(left + plotWidth + 40)\" y=\"\(legendY)\">\(escape(entry.label))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    private static func durationLabel(_ nanoseconds: Double) -> String {
        switch nanoseconds {
        case ..<1_000: "\(Int(nanoseconds)) ns"
        case ..<1_000_000: "\(Int(nanoseconds / 1_000)) µs"
        case ..<1_000_000_000: "\(Int(nanoseconds / 1_000_000)) ms"
        default: "\(Int(nanoseconds / 1_000_000_000)) s"
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}

private func pow10(_ exponent: Double) -> Double { pow(10, exponent) }

private extension Double {
    var log10Floor: Double { Foundation.log10(self).rounded(.down) }
    var log10Ceiling: Double { Foundation.log10(self).rounded(.up) }
}
