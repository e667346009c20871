import ArgumentParser
import ExchangeBench
import ExchangeClusterTools
import ExchangeRedis
import Histogram
import ExchangeOrderFlow
import Foundation

/// `exchange bench ...`: load generators and benchmarks.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks and load generators.",
        subcommands: [BenchMatching.self, BenchFlow.self, BenchCluster.self]
    )
}

/// Writes progress lines to stderr, so stdout stays machine-readable.
func logProgress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// `exchange bench matching --symbols K[,K...] --orders N [--seed S] [--resting N] [--report DIR]`
struct BenchMatching: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matching",
        abstract: "Measure the matching engine: throughput, latency, memory per resting order, snapshots.",
        discussion: """
            Generates a realistic flow in memory per symbol count (mostly GTC limits near a \
            random-walking mid, with IOC, FOK, post-only, market orders, cancels and amends), \
            applies it for throughput (median of --repetitions runs) and again timing each \
            command (HdrHistogram). Then fills --resting orders and times a zstd snapshot write \
            and restore. The first symbol count is the baseline of the throughput ratios. \
            Build with -c release for meaningful figures.
            """
    )

    @Option(help: "Symbol counts to measure, comma-separated; the first is the baseline.")
    var symbols: String = "5"

    @Option(help: "Order commands per flow.")
    var orders: Int = 2_000_000

    @Option(help: "Seed of the generated flows.")
    var seed: UInt64 = 1

    @Option(help: "Resting orders for the memory and snapshot phase (0 skips it).")
    var resting: Int = 1_000_000

    @Option(help: "Throughput repetitions per flow.")
    var repetitions: Int = 3

    @Option(help: "How flow spreads over symbols: zipf (a few symbols carry most, as on real venues) or uniform.")
    var activity: ActivityOption = .zipf

    @Option(help: "Write report.json and latency.svg into this directory.")
    var report: String?

    func validate() throws {
        guard parsedSymbolCounts != nil else { throw ValidationError("--symbols takes positive integers separated by commas") }
        guard orders > 0 else { throw ValidationError("--orders must be positive") }
        guard resting >= 0 else { throw ValidationError("--resting must not be negative") }
        guard repetitions > 0 else { throw ValidationError("--repetitions must be positive") }
    }

    private var parsedSymbolCounts: [Int]? {
        let counts = symbols.split(separator: ",").map { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return counts.map { $0! }
    }

    func run() throws {
        let configuration = MatchingBenchmark.Configuration(
            symbolCounts: parsedSymbolCounts!, commandCount: orders, seed: seed, restingOrders: resting,
            repetitions: repetitions, activity: activity.activity)
        let (result, series) = try MatchingBenchmark.run(configuration, log: logProgress)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(result)
        print(MatchingBenchmarkSummary.text(result))
        if let report {
            let directory = URL(fileURLWithPath: report)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try json.write(to: directory.appendingPathComponent("report.json"))
            let title = "Matching latency per command, \(orders) commands, \(activity.rawValue) activity, seed \(seed)"
            try Data(LatencyPlot.svg(title: title, series: series).utf8).write(to: directory.appendingPathComponent("latency.svg"))
            logProgress("wrote \(directory.path)/report.json and latency.svg")
        }
    }
}

/// `exchange bench flow --symbols K --orders N [--seed S] --output FILE`
struct BenchFlow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow",
        abstract: "Write a generated order-flow file (the generator of bench matching) for exchange replay."
    )

    @Option(help: "Number of symbols.")
    var symbols: Int = 5

    @Option(help: "Order commands to generate.")
    var orders: Int = 2_000_000

    @Option(help: "Seed.")
    var seed: UInt64 = 1

    @Option(help: "How flow spreads over symbols: zipf or uniform.")
    var activity: ActivityOption = .zipf

    @Option(name: .shortAndLong, help: "The flow file to write.")
    var output: String

    func validate() throws {
        guard symbols > 0, orders >= 0 else { throw ValidationError("--symbols must be positive and --orders not negative") }
    }

    func run() throws {
        let flow = SyntheticOrderFlow.generate(
            .init(symbolCount: symbols, commandCount: orders, seed: seed, activity: activity.activity)
        ) { done in
            if orders >= 10, done % (orders / 10) == 0 { logProgress("generated \(done * 100 / max(1, orders))%") }
        }
        do {
            try ReplayTool.writeAtomically(OrderFlowWriter.text(of: flow), to: output)
        } catch {
            logProgress("\(error)")
            throw ExitCode(1)
        }
    }
}

/// `--activity zipf|uniform`.
enum ActivityOption: String, ExpressibleByArgument, CaseIterable {
    case zipf
    case uniform

    var activity: SyntheticOrderFlow.Activity {
        switch self {
        case .zipf: .zipf(exponent: 1)
        case .uniform: .uniform
        }
    }
}

/// `exchange bench cluster --redis URL --symbols K --orders N [--rate R] [--report DIR]`
struct BenchCluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Feed a generated flow into a running cluster; measure commands/s and append-to-output latency.",
        discussion: "Needs `exchange ctl init` and running matchers; bench/cluster.sh sets all of it up on a private Redis.")

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var feedOptions: FeedOptions
    @Option(help: "Symbols in the generated flow.") var symbols: Int = 100
    @Option(help: "Order commands.") var orders: Int = 200_000
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Commands per second (default: as fast as possible).") var rate: Double?
    @Option(help: "Write report.json and latency.svg here.") var report: String?
    @Option(help: "Label of this run in the report.") var label: String?
    @Option(help: "First feed this many resting orders (far from every mid), unmeasured.") var prefill: Int = 0

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let endpoint = try RedisEndpoint(url: redisOptions.redis)
            if prefill > 0 {
                logProgress("prefilling \(prefill) resting orders")
                try await feedOptions.feeder(client: client).feed(ClusterBenchmark.restingFlow(symbolCount: symbols, orders: prefill, seed: seed))
            }
            let flow = SyntheticOrderFlow.generate(.init(symbolCount: symbols, commandCount: orders, seed: seed))
            let result = try await ClusterBenchmark(client: client, endpoint: endpoint, feeder: feedOptions.feeder(client: client)).run(flow, rate: rate)
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            for latency in result.latenciesMicroseconds { _ = histogram.record(max(1, latency)) }
            let name = label ?? "\(symbols) symbols\(rate.map { " at \(Int($0))/s" } ?? "")"
            let line = "\(name): \(result.commands) commands in \((result.seconds * 100).rounded() / 100) s = \(Int(result.commandsPerSecond)) commands/s; "
                + "append-to-output latency p50 \(histogram.valueAtPercentile(50)) µs, p99 \(histogram.valueAtPercentile(99)) µs, "
                + "p99.9 \(histogram.valueAtPercentile(99.9)) µs, max \(histogram.max) µs (\(result.latenciesMicroseconds.count) samples)"
            print(line)
            if let report {
                let directory = URL(fileURLWithPath: report)
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let slug = name.replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "/", with: "per")
                try Data((line + "\n").utf8).write(to: directory.appendingPathComponent("\(slug).txt"))
                // The plot works in nanoseconds.
                var nanoseconds = Histogram<UInt64>(highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
                for latency in result.latenciesMicroseconds { _ = nanoseconds.record(max(1, latency) * 1_000) }
                try Data(LatencyPlot.svg(title: "Append to output latency, \(name)", series: [.init(label: name, histogram: nanoseconds)]).utf8)
                    .write(to: directory.appendingPathComponent("\(slug).svg"))
            }
        }
    }
}
