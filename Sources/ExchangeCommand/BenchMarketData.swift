import ArgumentParser
import ExchangeBench
import ExchangeClusterTools
import Foundation

/// `exchange bench marketdata --redis URL --marketdata http://HOST:PORT [--rates "R ..."] [--report DIR]`
struct BenchMarketData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "marketdata",
        abstract: "Many WebSocket clients of a running market data while a generated flow is fed at set rates: messages/s and append-to-client latency.",
        discussion: """
            Every client listens to the @trade streams of --streams-per-client symbols (each symbol gets the same number of \
            listeners). Phases run at each --rates value (commands/s) for --seconds; then four at half the highest rate the \
            deliveries kept up with (p99 under 100 ms), in turn without and with a stalled client (subscribed to every symbol, never \
            reading): the p99 of the two with it is compared with that of the two without it (alternating, so a drift of the host over \
            the run weighs on both). Latency runs from a trade's output append in Redis (its event time E, \
            in ms: figures are overstated by up to 1 ms) to its receipt.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var feedOptions: FeedOptions
    @Option(help: "The market data, http://HOST:PORT.") var marketdata: String
    @Option(help: "Symbols in the generated flow.") var symbols: Int = 1_000
    @Option(help: "WebSocket clients.") var clients: Int = 1_000
    @Option(help: "Symbols whose trades each client listens to.") var streamsPerClient: Int = 100
    @Option(help: "Command rates of the ramp (commands/s, space separated).") var rates: String = "500 1000 2000 3000 4000 5000 6000 8000"
    @Option(help: "Seconds per phase.") var seconds: Double = 10
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Write the summary and plots here.") var report: String?

    /// The ramp phase with the most messages/s among those whose deliveries kept up (p99
    /// under 100 ms: no backlog growing over the phase); the first phase if none did.
    static func sustained(_ phases: [MarketDataBenchmark.PhaseResult]) -> MarketDataBenchmark.PhaseResult {
        phases.filter { LatencySummary.histogram($0.latenciesMicroseconds).valueAtPercentile(99) < 100_000_000 }
            .max { $0.messagesPerSecond < $1.messagesPerSecond } ?? phases[0]
    }

    func run() async throws {
        let ramp = rates.split(separator: " ").compactMap { Double($0) }
        guard !ramp.isEmpty, ramp.allSatisfy({ $0 > 0 }) else { throw ValidationError("--rates needs positive numbers") }
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let benchmark = MarketDataBenchmark(
                feeder: feedOptions.feeder(client: client), marketData: marketdata, symbols: symbols, clients: clients,
                streamsPerClient: streamsPerClient, seed: seed)
            let rampPhases = ramp.map { MarketDataBenchmark.Phase(label: "ramp \(Int($0))/s", rate: $0, seconds: seconds, withStalledClient: false) }
            // Long enough for the stalled client to fill its socket buffers and its queue; all as long,
            // so their p99 compare.
            let halfSeconds = max(seconds, 20)
            let result = try await benchmark.run(phases: rampPhases, followUpCommands: Int(ramp.max()! / 2 * 4 * halfSeconds)) { measured in
                let half = Self.sustained(measured).phase.rate / 2
                return (1...2).flatMap { round in
                    [
                        MarketDataBenchmark.Phase(label: "half \(Int(half))/s (\(round))", rate: half, seconds: halfSeconds, withStalledClient: false),
                        .init(label: "half \(Int(half))/s, stalled client (\(round))", rate: half, seconds: halfSeconds, withStalledClient: true),
                    ]
                }
            } progress: { logProgress($0) }
            let best = Self.sustained(Array(result.phases.prefix(ramp.count)))
            let halves = result.phases.dropFirst(ramp.count)
            var lines: [String] = ["\(clients) clients x \(streamsPerClient) symbols' trades of \(symbols) symbols"]
            for phase in result.phases {
                lines.append(String(format: "%@: %.0f messages/s, latency %@%@", phase.phase.label, phase.messagesPerSecond,
                                    LatencySummary.text(phase.latenciesMicroseconds),
                                    phase.stalledClientDropped.map { $0 ? "; the stalled client was disconnected" : "; the stalled client was NOT disconnected" } ?? ""))
            }
            let calm = LatencySummary.histogram(halves.filter { !$0.phase.withStalledClient }.flatMap(\.latenciesMicroseconds)).valueAtPercentile(99)
            let stalled = LatencySummary.histogram(halves.filter(\.phase.withStalledClient).flatMap(\.latenciesMicroseconds)).valueAtPercentile(99)
            let most = result.phases.prefix(ramp.count).map(\.messagesPerSecond).max() ?? 0
            lines.append(String(format: "most delivered: %.0f messages/s; highest kept up with: %.0f messages/s (%@); at half: p99 %.1f ms without a stalled client, %.1f ms with one (ratio %.2f)",
                                most, best.messagesPerSecond, best.phase.label, Double(calm) / 1_000_000, Double(stalled) / 1_000_000, Double(stalled) / Double(max(calm, 1))))
            lines.append("clients disconnected during the run: " + (result.clientsDisconnected.isEmpty ? "none" : result.clientsDisconnected.sorted { $0.key < $1.key }.map { "\($0.value) (close code \($0.key))" }.joined(separator: ", ")))
            let summary = lines.joined(separator: "\n")
            print(summary)
            if let report {
                try LatencySummary.write(
                    line: summary, title: "Market data: trade append to WebSocket client",
                    series: result.phases.map { ($0.phase.label, $0.latenciesMicroseconds) }, yLabel: "latency per message",
                    name: "marketdata", into: report)
                try Data(RatePlot.svg(
                    title: "Messages delivered per second (phases in turn)", counts: result.messagesPerSecond, interval: .seconds(1),
                    yLabel: "messages/s").utf8).write(to: URL(fileURLWithPath: report).appendingPathComponent("marketdata-messages.svg"))
                try LatencySummary.writeOverTime(result.latencyOverTime, title: "Append to client latency over time", name: "marketdata", into: report)
            }
        }
    }
}
