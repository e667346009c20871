import ExchangeCore
import ExchangeMatching
import ExchangeOrderFlow
import ExchangeSnapshots
import Foundation
import Histogram

/// `exchange bench matching`: throughput, per-command latency, memory per resting order and
/// snapshot cost of the matching engine on generated flows, all measured in one run so the
/// figures can be compared as ratios.
public enum MatchingBenchmark {
    public struct Configuration: Sendable {
        /// One measurement per entry; the first is the baseline of the ratios.
        public var symbolCounts: [Int]
        public var commandCount: Int
        public var seed: UInt64
        /// Resting orders for the memory and snapshot phase (0 skips it).
        public var restingOrders: Int
        /// Throughput repetitions; the median is reported.
        public var repetitions: Int
        /// How the generated flow spreads over symbols.
        public var activity: SyntheticOrderFlow.Activity

        public init(
            symbolCounts: [Int], commandCount: Int, seed: UInt64, restingOrders: Int, repetitions: Int = 3,
            activity: SyntheticOrderFlow.Activity = .zipf(exponent: 1)
        ) {
            self.activity = activity
            self.symbolCounts = symbolCounts
            self.commandCount = commandCount
            self.seed = seed
            self.restingOrders = restingOrders
            self.repetitions = repetitions
        }
    }

    public struct FlowFigures: Codable, Sendable {
        public var symbols: Int
        public var commands: Int
        public var commandsPerSecond: Double
        public var commandsPerSecondRuns: [Double]
        public var throughputRatioToBaseline: Double
        public var latencyNanoseconds: LatencyFigures
        public var restingOrdersAtEnd: Int
        public var trades: Int
    }

    public struct LatencyFigures: Codable, Sendable {
        public var p50: UInt64
        public var p99: UInt64
        public var p99_9: UInt64
        public var p99_99: UInt64
        public var max: UInt64
        public var mean: Double
        /// The clock read itself, measured in the same run, included in every sample above.
        public var clockOverhead: UInt64
    }

    public struct RestingFigures: Codable, Sendable {
        public var restingOrders: Int
        public var priceLevels: Int
        public var symbols: Int
        public var engineBytes: Int
        public var engineBytesPerOrder: Double
        public var residentBytesGrowth: Int
        public var residentBytesPerOrder: Double
        /// Producing the binary form alone, into a sink that only counts bytes.
        public var snapshotSerializeMilliseconds: Double
        /// The whole file write: binary form, zstd, fsync, rename, directory fsync.
        public var snapshotWriteMilliseconds: Double
        public var snapshotRestoreMilliseconds: Double
        public var snapshotCompressedBytes: Int
        public var snapshotUncompressedBytes: Int
        public var restoredDigestEqual: Bool
        /// Moving one of the symbols (a fifth of the orders) to an engine as full as this one
        /// (`ctl move`'s work on the two shards): the book taken out, and added on the other.
        public var handOverOrders: Int
        public var handOverMilliseconds: Double
        public var takeOverMilliseconds: Double
        public var handOverBytes: Int
    }

    public struct Report: Codable, Sendable {
        public var seed: UInt64
        /// `uniform` or `zipf(s)`.
        public var activity: String
        public var flows: [FlowFigures]
        public var resting: RestingFigures?
    }

    /// Runs every phase; `log` receives progress lines (for stderr).
    ///
    /// Throughput runs are interleaved (flow 1, flow 2, ..., flow 1, flow 2, ...) so that
    /// noise from other work on the machine hits every flow alike; the ratio to the baseline
    /// is the median of the per-round ratios.
    public static func run(_ configuration: Configuration, log: (String) -> Void) throws -> (Report, [LatencyPlot.Series]) {
        var workloads: [Workload] = []
        for symbolCount in configuration.symbolCounts {
            log("generating \(configuration.commandCount) commands over \(symbolCount) symbols (seed \(configuration.seed))")
            let flow = SyntheticOrderFlow.generate(
                .init(symbolCount: symbolCount, commandCount: configuration.commandCount, seed: configuration.seed,
                      activity: configuration.activity)
            ) { done in
                if done % max(1, configuration.commandCount / 10) == 0 {
                    log("  generated \(done * 100 / max(1, configuration.commandCount))%")
                }
            }
            workloads.append(Workload(flow: flow))
        }
        var rates = Array(repeating: [Double](), count: workloads.count)
        var restingAtEnd = Array(repeating: 0, count: workloads.count)
        for round in 1...max(1, configuration.repetitions) {
            for (index, workload) in workloads.enumerated() {
                let (rate, resting) = throughput(of: workload)
                rates[index].append(rate)
                restingAtEnd[index] = resting
                log("  round \(round)/\(configuration.repetitions), \(workload.flow.symbols.count) symbols: \(Int(rate)) commands/s")
            }
        }
        var flows: [FlowFigures] = []
        var series: [LatencyPlot.Series] = []
        for (index, workload) in workloads.enumerated() {
            log("timing each command, \(workload.flow.symbols.count) symbols")
            let (latency, histogram, trades) = try latencies(of: workload)
            let ratios = zip(rates[index], rates[0]).map { $0 / $1 }
            flows.append(FlowFigures(
                symbols: workload.flow.symbols.count, commands: workload.orders.count,
                commandsPerSecond: median(rates[index]), commandsPerSecondRuns: rates[index],
                throughputRatioToBaseline: median(ratios), latencyNanoseconds: latency,
                restingOrdersAtEnd: restingAtEnd[index], trades: trades))
            series.append(LatencyPlot.Series(label: "\(workload.flow.symbols.count) symbols", histogram: histogram))
        }
        var resting: RestingFigures?
        if configuration.restingOrders > 0 {
            resting = try measureResting(orders: configuration.restingOrders, seed: configuration.seed, log: log)
        }
        let activity = switch configuration.activity {
        case .uniform: "uniform"
        case .zipf(let exponent): "zipf(\(exponent))"
        }
        return (Report(seed: configuration.seed, activity: activity, flows: flows, resting: resting), series)
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// A generated flow split into its symbol declarations and its order commands.
    struct Workload {
        let flow: OrderFlow
        let symbols: [MatchingCommand]
        let orders: [MatchingCommand]

        init(flow: OrderFlow) {
            self.flow = flow
            var symbols: [MatchingCommand] = []
            var orders: [MatchingCommand] = []
            orders.reserveCapacity(flow.entries.count)
            for case .command(let command) in flow.entries {
                if case .addSymbol = command { symbols.append(command) } else { orders.append(command) }
            }
            self.symbols = symbols
            self.orders = orders
        }

        /// An engine with the capacity an operator would give it, its symbols added.
        func freshEngine(events: inout [MatchingEvent]) -> MatchingEngine {
            var engine = MatchingEngine(limits: .init(
                maximumSymbols: max(1, flow.symbols.count), maximumRestingOrders: max(1 << 16, flow.entries.count / 2)))
            for command in symbols { engine.apply(command, into: &events) }
            events.removeAll(keepingCapacity: true)
            return engine
        }
    }

    /// One untimed-per-command pass: commands per second, and resting orders at the end.
    private static func throughput(of workload: Workload) -> (Double, Int) {
        var events: [MatchingEvent] = []
        events.reserveCapacity(4_096)
        var engine = workload.freshEngine(events: &events)
        let start = MonotonicClock.nanoseconds()
        // Batches of 16, as a replica hands the engine what it read: the engine prefetches ahead.
        var position = 0
        while position < workload.orders.count {
            let end = min(position + 16, workload.orders.count)
            engine.apply(batch: workload.orders[position..<end], into: &events)
            events.removeAll(keepingCapacity: true)
            position = end
        }
        let elapsed = MonotonicClock.nanoseconds() - start
        return (Double(workload.orders.count) / (Double(elapsed) / 1e9), engine.restingOrderCount)
    }

    /// Times each command alone on a fresh engine.
    private static func latencies(of workload: Workload) throws -> (LatencyFigures, Histogram<UInt64>, Int) {
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
        var events: [MatchingEvent] = []
        events.reserveCapacity(4_096)
        var engine = workload.freshEngine(events: &events)
        var clockOverhead = UInt64.max
        for _ in 0..<10_000 {
            let a = MonotonicClock.nanoseconds()
            let b = MonotonicClock.nanoseconds()
            clockOverhead = min(clockOverhead, b - a)
        }
        var trades = 0
        var capacityRejections = 0
        for command in workload.orders {
            let start = MonotonicClock.nanoseconds()
            engine.apply(command, into: &events)
            let elapsed = MonotonicClock.nanoseconds() - start
            _ = histogram.record(elapsed)
            for event in events {
                switch event {
                case .traded: trades += 1
                case .rejected(let rejected)
                    where [.orderCapacityReached, .priceLevelCapacityReached, .symbolCapacityReached].contains(rejected.reason):
                    capacityRejections += 1
                default: break
                }
            }
            events.removeAll(keepingCapacity: true)
        }
        // A full engine rejects cheaply and would inflate throughput: the flow must fit.
        guard capacityRejections == 0 else {
            throw BenchmarkError("\(capacityRejections) commands hit the engine's capacity; the figures would be meaningless")
        }
        let figures = LatencyFigures(
            p50: histogram.valueAtPercentile(50), p99: histogram.valueAtPercentile(99),
            p99_9: histogram.valueAtPercentile(99.9), p99_99: histogram.valueAtPercentile(99.99),
            max: histogram.max, mean: histogram.mean, clockOverhead: clockOverhead)
        return (figures, histogram, trades)
    }

    /// Fills an engine sized for exactly `orders` resting orders over 5 symbols (and room for
    /// a sixth, the book a move brings) with non-crossing GTC orders (a geometric spread of
    /// levels behind each mid), then measures its memory, a snapshot write and restore through
    /// zstd files, and moving one symbol's book to the restored engine.
    private static func measureResting(orders: Int, seed: UInt64, log: (String) -> Void) throws -> RestingFigures {
        let symbolCount = 5
        let specs = SyntheticOrderFlow.symbols(count: symbolCount)
        let residentBefore = ResidentMemory.bytes()
        // Levels: the geometric spread below uses about 16k for 1M orders; small fills get room too.
        var engine = MatchingEngine(limits: .init(
            maximumSymbols: symbolCount + 1, maximumRestingOrders: orders, maximumPriceLevels: max(orders / 8, 65_536)))
        var events: [MatchingEvent] = []
        events.reserveCapacity(64)
        for spec in specs { engine.apply(.addSymbol(AddSymbol(spec: spec)), into: &events) }
        var random = SeededRandom(seed: seed)
        log("filling \(orders) resting orders over \(symbolCount) symbols")
        for orderIndex in 0..<orders {
            let symbol = SymbolID(UInt32(orderIndex % symbolCount))
            let side: OrderSide = random.chance(0.5) ? .buy : .sell
            let distance = 1 + random.geometric(0.004, cap: 4_000)
            let price = side == .buy ? 100_000 - distance : 100_000 + distance
            events.removeAll(keepingCapacity: true)
            engine.apply(.place(PlaceOrder(
                orderID: OrderID(orderIndex + 1), userID: 1 + random.next() % 10_000, symbolID: symbol, side: side,
                type: .limit, timeInForce: .goodTillCanceled, price: Price(ticks: price),
                quantity: Quantity(lots: 1 + Int64(random.next() % 1_000)))), into: &events)
            if orderIndex % (orders / 10 + 1) == 0 { log("  filled \(orderIndex * 100 / orders)%") }
        }
        guard engine.restingOrderCount == orders else {
            throw BenchmarkError("only \(engine.restingOrderCount) of \(orders) fill orders rest; the fill must not cross")
        }
        let residentGrowth = ResidentMemory.bytes() - residentBefore
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exchange-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("matching.snapshot.zst").path
        struct CountingSink: SnapshotByteSink {
            var bytes = 0
            mutating func write(_ chunk: UnsafeRawBufferPointer) throws { bytes += chunk.count }
        }
        var counter = CountingSink()
        let serializeStart = MonotonicClock.nanoseconds()
        try engine.writeSnapshot(to: &counter)
        let serializeNanoseconds = MonotonicClock.nanoseconds() - serializeStart
        log("writing snapshot")
        var uncompressed = 0
        let writeStart = MonotonicClock.nanoseconds()
        let compressed = try SnapshotFile.write(to: path) { sink in
            try engine.writeSnapshot(to: &sink)
            uncompressed = sink.uncompressedBytes
        }
        let writeNanoseconds = MonotonicClock.nanoseconds() - writeStart
        log("restoring snapshot")
        let restoreStart = MonotonicClock.nanoseconds()
        var restored = try SnapshotFile.read(from: path) { source in
            try MatchingEngine.restore(limits: engine.limits, from: &source)
        }
        let restoreNanoseconds = MonotonicClock.nanoseconds() - restoreStart
        var levels = 0
        for symbol in 0..<symbolCount {
            for side in OrderSide.allCases {
                levels += engine.depth(of: SymbolID(UInt32(symbol)), side: side, limit: .max).count
            }
        }
        let digestEqual = restored.stateDigest == engine.stateDigest
        let footprint = engine.footprintBytes
        let resting = engine.restingOrderCount
        log("handing a symbol's book over")
        // Both engines uniquely referenced, as a shard's is: no copy-on-write in the timings.
        var target = restored
        restored = MatchingEngine(limits: .init(maximumSymbols: 1, maximumRestingOrders: 1))
        _ = target.handOver(symbol: specs[0].name)
        let handOverStart = MonotonicClock.nanoseconds()
        guard let book = engine.handOver(symbol: specs[0].name) else { throw BenchmarkError("no book to hand over") }
        let takeOverStart = MonotonicClock.nanoseconds()
        _ = try target.takeOver(book.bytes)
        let takeOverEnd = MonotonicClock.nanoseconds()
        return RestingFigures(
            restingOrders: resting, priceLevels: levels, symbols: symbolCount,
            engineBytes: footprint, engineBytesPerOrder: Double(footprint) / Double(orders),
            residentBytesGrowth: residentGrowth, residentBytesPerOrder: Double(residentGrowth) / Double(orders),
            snapshotSerializeMilliseconds: Double(serializeNanoseconds) / 1e6,
            snapshotWriteMilliseconds: Double(writeNanoseconds) / 1e6,
            snapshotRestoreMilliseconds: Double(restoreNanoseconds) / 1e6,
            snapshotCompressedBytes: compressed, snapshotUncompressedBytes: uncompressed,
            restoredDigestEqual: digestEqual,
            handOverOrders: book.restingOrders, handOverMilliseconds: Double(takeOverStart - handOverStart) / 1e6,
            takeOverMilliseconds: Double(takeOverEnd - takeOverStart) / 1e6, handOverBytes: book.bytes.count)
    }
}

/// A benchmark that could not measure what it was asked to.
public struct BenchmarkError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
