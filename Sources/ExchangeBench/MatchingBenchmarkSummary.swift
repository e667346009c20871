/// The human-readable table `exchange bench matching` prints.
public enum MatchingBenchmarkSummary {
    public static func text(_ report: MatchingBenchmark.Report) -> String {
        var lines = ["matching benchmark, seed \(report.seed), symbol activity \(report.activity)"]
        lines.append("symbols  commands  commands/s  ratio  p50 ns  p99 ns  p99.9 ns  p99.99 ns  max ns  (clock ns)  resting  trades")
        for flow in report.flows {
            let latency = flow.latencyNanoseconds
            lines.append([
                "\(flow.symbols)", "\(flow.commands)", "\(Int(flow.commandsPerSecond))",
                String(format2: flow.throughputRatioToBaseline), "\(latency.p50)", "\(latency.p99)", "\(latency.p99_9)",
                "\(latency.p99_99)", "\(latency.max)", "\(latency.clockOverhead)", "\(flow.restingOrdersAtEnd)", "\(flow.trades)",
            ].joined(separator: "  "))
        }
        if let resting = report.resting {
            lines.append("resting orders \(resting.restingOrders) on \(resting.priceLevels) levels over \(resting.symbols) symbols")
            lines.append("  engine bytes per resting order \(String(format2: resting.engineBytesPerOrder)) (resident growth \(String(format2: resting.residentBytesPerOrder)))")
            lines.append("  snapshot binary form \(String(format2: resting.snapshotSerializeMilliseconds)) ms; file write (zstd, fsync, rename) \(String(format2: resting.snapshotWriteMilliseconds)) ms, restore \(String(format2: resting.snapshotRestoreMilliseconds)) ms, \(resting.snapshotCompressedBytes) bytes compressed (\(resting.snapshotUncompressedBytes) raw), digest equal: \(resting.restoredDigestEqual)")
            lines.append("  moving a symbol of \(resting.handOverOrders) orders: hand-over \(String(format2: resting.handOverMilliseconds)) ms, take-over \(String(format2: resting.takeOverMilliseconds)) ms (on an engine as full), \(resting.handOverBytes) bytes")
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    /// Two decimals, without Foundation's locale-dependent formatting.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = abs(hundredths % 100)
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
