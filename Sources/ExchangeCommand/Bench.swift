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
        subcommands: [BenchMatching.self, BenchFlow.self, BenchCluster.self, BenchOrderPath.self, BenchGateway.self, BenchMarketData.self]
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

    @Option(help: "Users placing the orders (ids 1...N).")
    var users: UInt64 = 1_000

    @Option(help: "How flow spreads over symbols: zipf or uniform.")
    var activity: ActivityOption = .zipf

    @Option(name: .shortAndLong, help: "The flow file to write.")
    var output: String

    func validate() throws {
        guard symbols > 0, orders >= 0 else { throw ValidationError("--symbols must be positive and --orders not negative") }
        guard users > 0 else { throw ValidationError("--users must be positive") }
    }

    func run() throws {
        let flow = SyntheticOrderFlow.generate(
            .init(symbolCount: symbols, commandCount: orders, seed: seed, userCount: users, activity: activity.activity)
        ) { done in
            if orders >= 10, done % (orders / 10) == 0 { logProgress("generated \(done * 100 / max(1, orders))%") }
        }
        do {
            try ReplayTool.writeOutput(OrderFlowWriter.text(of: flow), to: output)
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
    @OptionGroup var measurement: BenchRunOptions
    @Option(help: "First feed this many resting orders (far from every mid), unmeasured.") var prefill: Int = 0

    func validate() throws {
        guard symbols > 0, prefill >= 0 else { throw ValidationError("--symbols must be positive and --prefill not negative") }
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let endpoint = try redisOptions.endpoint()
            if prefill > 0 {
                logProgress("prefilling \(prefill) resting orders")
                try await feedOptions.feeder(client: client).feed(ClusterBenchmark.restingFlow(symbolCount: symbols, orders: prefill, seed: measurement.seed))
            }
            let result = try await ClusterBenchmark(client: client, endpoint: endpoint, feeder: feedOptions.feeder(client: client))
                .run(measurement.flow(symbols: symbols), rate: measurement.rate)
            let name = measurement.name(symbols: symbols)
            let line = "\(name): \(result.commands) commands in \((result.seconds * 100).rounded() / 100) s = \(Int(result.commandsPerSecond)) commands/s; "
                + "append-to-output latency \(LatencySummary.text(result.latenciesMicroseconds)); "
                + "read by a tailing client \(LatencySummary.text(result.readLatenciesMicroseconds))"
            print(line)
            if let report = measurement.report {
                try LatencySummary.write(
                    line: line, title: "Append to output latency, \(name)",
                    series: [("output appended", result.latenciesMicroseconds), ("output read by a tailing client", result.readLatenciesMicroseconds)],
                    yLabel: "latency per command", name: name, into: report)
                try LatencySummary.writeOverTime(result.samples, title: "Append to output latency over time, \(name)", name: name, into: report)
            }
        }
    }
}

/// What every cluster benchmark run takes: the generated flow, the pace, where to report.
struct BenchRunOptions: ParsableArguments {
    @Option(help: "Order commands (places, cancels, amends).") var orders: Int = 200_000
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Flow lines per second (default: as fast as possible).") var rate: Double?
    @Option(help: "Write the summary and plots here.") var report: String?
    @Option(help: "Label of this run in the report.") var label: String?

    func validate() throws {
        guard orders > 0 else { throw ValidationError("--orders must be positive") }
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
    }

    /// The flow `bench matching` generates, over `symbols` symbols.
    func flow(symbols: Int) -> OrderFlow {
        SyntheticOrderFlow.generate(.init(symbolCount: symbols, commandCount: orders, seed: seed))
    }

    /// The run's label: `--label`, or the symbol count and rate.
    func name(symbols: Int) -> String {
        label ?? "\(symbols) symbols\(rate.map { " at \(Int($0))/s" } ?? "")"
    }
}

/// Percentiles, reports and plots of latencies measured in microseconds.
enum LatencySummary {
    /// `latencies` (µs) in an HdrHistogram of nanoseconds, the unit `LatencyPlot` draws.
    static func histogram(_ microseconds: [UInt64]) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
        for latency in microseconds { _ = histogram.record(max(1, latency) * 1_000) }
        return histogram
    }

    /// "p50 … µs, p99 … µs, p99.9 … µs, max … µs (N samples)".
    static func text(_ microseconds: [UInt64]) -> String {
        let histogram = histogram(microseconds)
        func micros(_ percentile: Double) -> UInt64 { histogram.valueAtPercentile(percentile) / 1_000 }
        return "p50 \(micros(50)) µs, p99 \(micros(99)) µs, p99.9 \(micros(99.9)) µs, max \(histogram.max / 1_000) µs (\(microseconds.count) samples)"
    }

    /// A file name made of `name`.
    static func slug(_ name: String) -> String {
        name.replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "/", with: "per")
    }

    /// Writes `line` to DIRECTORY/SLUG.txt and the percentile plot of `series` to
    /// DIRECTORY/SLUG.svg (SLUG made of `name`).
    static func write(
        line: String, title: String, series: [(label: String, microseconds: [UInt64])], yLabel: String, name: String, into directory: String
    ) throws {
        let url = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Data((line + "\n").utf8).write(to: url.appendingPathComponent("\(slug(name)).txt"))
        let plotted = series.map { LatencyPlot.Series(label: $0.label, histogram: histogram($0.microseconds)) }
        try Data(LatencyPlot.svg(title: title, series: plotted, yLabel: yLabel).utf8).write(to: url.appendingPathComponent("\(slug(name)).svg"))
    }

    /// Writes p50, p99 and max per 100 ms of append time to DIRECTORY/SLUG-over-time.svg.
    static func writeOverTime(_ samples: [LatencyOverTime.Sample], title: String, name: String, into directory: String) throws {
        let windows = LatencyOverTime.windows(samples, interval: 100_000)
        let series: [(label: String, values: [Double])] = [
            ("p50", windows.map { Double($0.p50) }), ("p99", windows.map { Double($0.p99) }), ("max", windows.map { Double($0.max) }),
        ]
        let svg = RatePlot.svg(title: title, series: series, interval: .milliseconds(100), yLabel: "µs, per 100 ms of appends")
        try Data(svg.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent("\(slug(name))-over-time.svg"))
    }
}

/// `exchange bench order-path --redis URL --symbols K --orders N [--rate R] [--report DIR]`
struct BenchOrderPath: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-path",
        abstract: "Feed a generated flow through clearing; measure orders/s end to end and append-to-settled latency.",
        discussion: """
            Needs `exchange ctl init --partitions N`, running matchers and clearing replicas; \
            bench/order-path.sh sets all of it up on a private Redis. Lists \
            the symbols and funds the users first (unmeasured), then feeds places to clearing \
            and cancels and amends to the shards, and measures per place append -> accepted \
            (frozen and forwarded) and per trade append of the taker's place -> both legs settled.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var feedOptions: FeedOptions
    @Option(help: "Symbols in the generated flow.") var symbols: Int = 20
    @OptionGroup var measurement: BenchRunOptions

    func validate() throws {
        guard symbols > 0 else { throw ValidationError("--symbols must be positive") }
        try feedOptions.validateForClearing()
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let endpoint = try redisOptions.endpoint()
            let flow = measurement.flow(symbols: symbols)
            logProgress("order-path bench: listing \(symbols) symbols, funding users, then feeding \(measurement.orders) commands")
            let result = try await OrderPathBenchmark(client: client, endpoint: endpoint, feeder: feedOptions.clearingFeeder(client: client))
                .run(flow, rate: measurement.rate)
            let name = measurement.name(symbols: symbols)
            let seconds = (result.seconds * 100).rounded() / 100
            let legs = result.legsByPartition.sorted { $0.key < $1.key }
                .map { "partition \($0.key) \(Int(Double($0.value) / result.seconds))/s" }.joined(separator: ", ")
            let peak = (result.legsPerInterval.max() ?? 0) * 10
            let line = "\(name): \(result.places) places (\(result.commands) commands) in \(seconds) s = \(Int(result.ordersPerSecond)) orders/s "
                + "(\(Int(Double(result.commands) / result.seconds)) commands/s); "
                + "append to accepted \(LatencySummary.text(result.acceptedMicroseconds)); "
                + "append to settled \(LatencySummary.text(result.stages.settled)); "
                + "settled and read by a tailing client \(LatencySummary.text(result.stages.settledRead)); "
                + "settled legs \(legs) (run average), peak \(peak) legs/s over 100 ms; unseen \(result.unseen)"
            let steps = result.stages.steps.map { "  \($0.name): \(LatencySummary.text($0.microseconds))" }
            print(([line, "steps of append to settled, per trade:"] + steps).joined(separator: "\n"))
            if let report = measurement.report {
                try LatencySummary.write(
                    line: ([line, "steps of append to settled, per trade:"] + steps).joined(separator: "\n"), title: "Order path latency, \(name)",
                    series: [("append to accepted, per place", result.acceptedMicroseconds), ("append to settled, per trade", result.stages.settled),
                             ("append to settled and read by a tailing client", result.stages.settledRead)]
                        + result.stages.steps.map { ("step: \($0.name)", $0.microseconds) },
                    yLabel: "latency", name: name, into: report)
                let plot = RatePlot.svg(
                    title: "Settled trade legs per second (2 legs per trade), \(name)", counts: result.legsPerInterval,
                    interval: .milliseconds(100), yLabel: "legs settled per second")
                try Data(plot.utf8).write(to: URL(fileURLWithPath: report).appendingPathComponent("\(LatencySummary.slug(name))-legs.svg"))
            }
            if result.unseen > 0 { throw OrderPathBenchmarkError.unseen(result.unseen) }
        }
    }
}

struct BenchGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Signed order placement through a running gateway: orders/s and ACK/FULL latency, against its no-op route.",
        discussion: """
            Needs a running cluster and gateway with rate limits above the load; bench/gateway.sh sets all of it up. \
            Measures, with the same keep-alive client: the no-op route (ping), closed loop; ACK orders, closed loop; then \
            ACK and FULL orders at half the ACK rate, open loop (latency from each request's scheduled send); then \
            ACK and FULL orders at --light-rate, open loop (the floor: one order's path with nothing queued).
            """)

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "The gateway's base URL.") var gateway = "http://127.0.0.1:8080"
    @Option(help: "Keep-alive connections (one worker each).") var connections = 16
    @Option(help: "Seconds per phase.") var seconds = 10
    @Option(help: "Orders per second of the floor phases.") var lightRate = 50.0
    @Option(help: "The symbol to trade (listed).") var symbol = "BTCUSDT"
    @Option(help: "Write a summary and plots into this directory.") var report: String?

    func validate() throws {
        guard connections > 0, seconds > 0, lightRate > 0 else {
            throw ValidationError("--connections, --seconds and --light-rate must be positive")
        }
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            var benchmark = GatewayBenchmark(base: gateway, redis: client)
            benchmark.connections = connections
            benchmark.phaseDuration = .seconds(seconds)
            benchmark.lightRate = lightRate
            benchmark.symbol = symbol
            let result = try await benchmark.run(progress: { logProgress("gateway bench: \($0)") })
            func line(_ phase: GatewayBenchmark.Phase) -> String {
                "\(phase.name): \(phase.requests) in \((phase.seconds * 100).rounded() / 100) s = \(Int(phase.requestsPerSecond))/s, "
                    + "\(phase.errors) errors\(phase.firstError.map { " (first: \($0))" } ?? ""); latency \(LatencySummary.text(phase.latenciesMicroseconds))"
            }
            let phases = [result.ping, result.ackMaximum, result.ackHalf, result.fullHalf, result.ackLight, result.fullLight]
            let summary = (phases.map(line) + [
                "ACK orders/s at full speed / no-op requests/s = \(String(format: "%.3f", result.ratio)) (\(connections) connections)",
            ]).joined(separator: "\n")
            print(summary)
            if let report {
                try LatencySummary.write(
                    line: summary, title: "Gateway: request to answer, \(connections) keep-alive connections",
                    series: phases.map { ($0.name, $0.latenciesMicroseconds) }, yLabel: "latency", name: "gateway", into: report)
                for phase in [result.ackHalf, result.fullHalf] {
                    try LatencySummary.writeOverTime(phase.samples, title: "Gateway latency over time, \(phase.name)", name: "gateway-\(phase.name)", into: report)
                }
            }
            if phases.contains(where: { $0.errors > 0 }) { throw ExitCode(1) }
        }
    }
}
