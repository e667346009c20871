import ExchangeCore
import ExchangeMatching
import Foundation

/// Why `exchange replay` failed; `description` is the line printed on stderr.
public enum ReplayError: Error, CustomStringConvertible {
    /// A malformed flow: `FILE:LINE: reason`.
    case syntax(file: String, FlowSyntaxError)
    case unreadable(file: String, reason: String)
    case unwritable(file: String, reason: String)
    /// Two engines fed the same commands ended in different states: a bug, never the input's fault.
    case nondeterministic(file: String)

    public var description: String {
        switch self {
        case .syntax(let file, let error): "\(file):\(error.line): \(error.reason)"
        case .unreadable(let file, let reason): "\(file): cannot read: \(reason)"
        case .unwritable(let file, let reason): "\(file): cannot write: \(reason)"
        case .nondeterministic(let file): "\(file): the engine is not deterministic on this flow (digests differ); please report it"
        }
    }
}

/// The figures `exchange replay --stats` prints, one JSON line.
public struct ReplayStats: Sendable {
    public var commands: Int
    public var applySeconds: Double
    public var restingOrders: Int
    public var trades: Int

    public var commandsPerSecond: Double { applySeconds > 0 ? Double(commands) / applySeconds : 0 }

    /// `{"commands":N,"apply_seconds":S,"commands_per_second":R,"resting_orders":N,"trades":N}`
    public var jsonLine: String {
        "{\"commands\":\(commands),\"apply_seconds\":\(applySeconds),\"commands_per_second\":\(commandsPerSecond.rounded()),"
            + "\"resting_orders\":\(restingOrders),\"trades\":\(trades)}"
    }
}

/// `exchange replay`: reads a flow file, replays it, writes the output format.
public enum ReplayTool {
    /// Replays `flowPath`. With an `outputPath` the output goes to a temporary file in the
    /// same directory, renamed over `outputPath` only when complete: a failure leaves no
    /// output file behind. Without one, the output is returned for the caller to print.
    ///
    /// With `measuring`, a second fresh engine applies the same commands alone under the
    /// clock (`FlowReplay.timeApply`) for the stats, and must end with the same digest as the
    /// engine that produced the output: a replay is also a determinism check.
    public static func replay(
        flowPath: String, outputPath: String?, measuring: Bool = false
    ) throws(ReplayError) -> (output: String?, stats: ReplayStats?) {
        let flow = try loadFlow(flowPath)
        let result = FlowReplay.run(flow)
        var stats: ReplayStats?
        if measuring {
            let clock = ContinuousClock()
            let origin = clock.now
            let timing = FlowReplay.timeApply(flow) {
                let elapsed = origin.duration(to: clock.now).components
                return UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
            }
            guard timing.stateDigest == result.engine.stateDigest else {
                throw .nondeterministic(file: flowPath)
            }
            stats = ReplayStats(
                commands: timing.appliedCommandCount, applySeconds: timing.applySeconds,
                restingOrders: result.engine.restingOrderCount, trades: result.collector.tradeCount)
        }
        let output = FlowReplay.output(of: result)
        guard let outputPath else { return (output, stats) }
        try writeOutput(output, to: outputPath)
        return (nil, stats)
    }

    /// Reads and parses a flow file; errors name the file (and line).
    public static func loadFlow(_ path: String) throws(ReplayError) -> OrderFlow {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .unreadable(file: path, reason: (error as NSError).localizedDescription)
        }
        do {
            return try OrderFlowParser.parse(text)
        } catch {
            throw .syntax(file: path, error)
        }
    }

    /// Writes `text` to `path` as `OutputFile` does (whole, or in place for a device or FIFO).
    public static func writeOutput(_ text: String, to path: String) throws(ReplayError) {
        do {
            try OutputFile.write(text.utf8, to: path)
        } catch {
            throw .unwritable(file: path, reason: error.reason)
        }
    }
}
