import ExchangeCore
import Foundation

/// Draws values over time as an SVG: x is seconds from the start of the run, y the value of
/// each interval (linear, from 0), one step line per series. For throughput and latency over
/// time.
public enum RatePlot {
    /// `counts[i]` is what happened in interval i, each `interval` long; draws counts per second.
    public static func svg(title: String, counts: [Int], interval: Duration, yLabel: String) -> String {
        let seconds = interval.secondsValue
        return svg(title: title, series: [("", counts.map { Double($0) / seconds })], interval: interval, yLabel: yLabel)
    }

    /// `series[k].values[i]` is series k's value in interval i, each `interval` long. Labels
    /// are drawn as a legend when there is more than one series.
    public static func svg(title: String, series: [(label: String, values: [Double])], interval: Duration, yLabel: String) -> String {
        let width = 760.0, height = 420.0, left = 90.0, right = 30.0, top = 50.0, bottom = 60.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let seconds = interval.secondsValue
        let intervals = series.map(\.values.count).max() ?? 0
        let duration = max(seconds, Double(intervals) * seconds)
        let highest = niceCeiling(series.flatMap(\.values).max() ?? 1)
        func x(_ time: Double) -> Double { left + plotWidth * time / duration }
        func y(_ value: Double) -> Double { top + plotHeight * (1 - value / highest) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="24" text-anchor="middle" font-size="15">\(LatencyPlot.escape(title))</text>

        """
        for step in 0...5 {
            let value = highest * Double(step) / 5
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(y(value))\" y2=\"\(y(value))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(value) + 4)\" text-anchor=\"end\">\(Int(value))</text>\n"
        }
        for step in 0...5 {
            let time = duration * Double(step) / 5
            svg += "<text x=\"\(x(time))\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\((time * 10).rounded() / 10) s</text>\n"
        }
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 14)\" text-anchor=\"middle\">time from the first append</text>\n"
        svg += "<text x=\"18\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + plotHeight / 2))\">\(LatencyPlot.escape(yLabel))</text>\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
        for (index, line) in series.enumerated() {
            // A step line: each interval's value held across the interval.
            var points: [String] = []
            for (interval, value) in line.values.enumerated() {
                points.append("\(x(Double(interval) * seconds)),\(y(value))")
                points.append("\(x(Double(interval + 1) * seconds)),\(y(value))")
            }
            let color = colors[index % colors.count]
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            if series.count > 1 {
                let legendY = top + 16 + Double(index) * 16
                svg += "<line x1=\"\(left + 12)\" x2=\"\(left + 36)\" y1=\"\(legendY - 4)\" y2=\"\(legendY - 4)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
                svg += "<text x=\"\(left + 42)\" y=\"\(legendY)\">\(LatencyPlot.escape(line.label))</text>\n"
            }
        }
        svg += "</svg>\n"
        return svg
    }

    /// The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 1 else { return 1 }
        let decade = pow(10, log10(value).rounded(.down))
        for factor in [1.0, 2.0, 5.0, 10.0] where factor * decade >= value { return factor * decade }
        return 10 * decade
    }
}
