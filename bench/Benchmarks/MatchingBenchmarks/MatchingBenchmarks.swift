import Benchmark
import ExchangeCore
import ExchangeMatching
import ExchangeOrderFlow

// Heap allocations per command of the matching engine.
//
// `MatchingEngine` promises not to allocate per command once its pools, index and level
// arrays have reached their working size. These benchmarks hold it to that: the engine is
// warmed up outside the measurement, then every iteration applies the next 1,000 commands
// and package-benchmark's malloc interposer counts every `malloc` in between.
//
// The `.kilo` scaling factor makes the default table read per command, rounded to whole
// numbers: 2 allocations per 1,000 commands show as 0. `--scale` shows the raw counts per
// iteration (per 1,000 commands), and the threshold check compares those raw counts.
//
// Allocation counts are deterministic (seeded flow, same iterations every run); times are
// not, on a shared VM: gate on `mallocCountTotal` (`swift package benchmark thresholds
// check`, see README.md) and read the times as indications.

/// What every benchmark here measures.
///
/// Not `.instructions`: on Linux, package-benchmark 1.38.1 switches on its OS-stats producer
/// for it, which reads `/proc/self/stat` and `/proc/self/io` into heap-allocated strings at
/// the start and end of every iteration, inside the malloc window: 16 mallocs per iteration
/// that are not the engine's. (On the VM these were written on, perf counters are not
/// available anyway, so it reported nothing.)
private let measuredMetrics: [BenchmarkMetric] = [.mallocCountTotal, .throughput, .wallClock]

/// Tolerance zero on `mallocCountTotal` at p90, checked against the static thresholds in
/// `Thresholds/` (zero for the engine benchmarks).
///
/// Computed, not a constant: package-benchmark's configuration types are not `Sendable`.
private var exactMallocCountThresholds: [BenchmarkMetric: BenchmarkThresholds] {
    [.mallocCountTotal: .init(absolute: [.p90: 0])]
}

/// The generated flow behind the steady-state benchmarks: the first `warmupCommandCount`
/// commands bring the books to their working size, the rest are measured, never reused.
///
/// Steady state means every book side has reached its deepest level count, so that no level
/// array grows (it doubles at each new high-water mark, like any array). With 10,000
/// symbols under Zipf activity a tail symbol sees a few commands per 10,000, so the warm-up
/// scales with the symbol count: 300 commands per symbol, at least 200,000.
private enum SteadyStateFlow {
    static let seed: UInt64 = 1
    static let measuredCommandCount = 200_000

    static func warmupCommandCount(symbolCount: Int) -> Int { max(200_000, symbolCount * 300) }
    static func commandCount(symbolCount: Int) -> Int { warmupCommandCount(symbolCount: symbolCount) + measuredCommandCount }

    static let warmupIterations = 5
    static let maximumIterations = 150

    /// One iteration per 1,000 commands, warm-up iterations included, never wrapping around:
    /// applying the flow again would measure something else (cancels of orders long gone,
    /// places whose ids still rest).
    static var configuration: Benchmark.Configuration {
        let scalingFactor = BenchmarkScalingFactor.kilo
        precondition(
            (warmupIterations + maximumIterations) * scalingFactor.rawValue <= measuredCommandCount,
            "the steady-state flow is too short for the configured iterations")
        return .init(
            metrics: measuredMetrics,
            warmupIterations: warmupIterations,
            scalingFactor: scalingFactor,
            maxDuration: .seconds(10),
            maxIterations: maximumIterations,
            thresholds: exactMallocCountThresholds)
    }
}

/// Limits that a generated flow never reaches, so nothing is rejected for capacity (the flow
/// settles around 20,000 resting orders over all symbols).
///
/// `initialLevelsPerSide` is the engine's default (4) unless given. A side's level array
/// doubles when a book reaches a new depth; with 10,000 Zipf-active symbols tail books keep
/// reaching new depths for millions of commands (about 1 malloc per 1,000 commands at p90 after
/// 3M commands of warm-up, measured with the default). Reserving the arrays up front, as an
/// operator sizes a shard, removes them: that is the configuration the 10,000-symbol gate uses.
private func generousLimits(symbolCount: Int, initialLevelsPerSide: Int = 4) -> MatchingEngine.Limits {
    .init(
        maximumSymbols: symbolCount, maximumRestingOrders: 1 << 18, maximumPriceLevels: 1 << 18,
        initialLevelsPerSide: initialLevelsPerSide)
}

/// A matching engine warmed up on the first part of a generated flow, and the rest of that
/// flow, applied in order by the measured iterations.
///
/// A class, not a struct: every iteration must mutate the same engine in place. A struct
/// handed to each iteration would share its arrays with the setup's copy, and the first
/// write would copy them: an allocation of the benchmark, not of the engine.
///
/// Not thread-safe; only the benchmark's thread uses it.
final class WarmEngine {
    private var engine: MatchingEngine
    /// The caller-owned event buffer, emptied (keeping its capacity) after every command.
    private var events: [MatchingEvent]
    /// Commands after the warm-up, in flow order.
    private let commands: [MatchingCommand]
    private var nextCommand = 0

    /// Generates `commandCount` commands over `symbolCount` symbols and applies the symbols
    /// and the first `warmupCommandCount` commands. Allocates freely: call it in setup.
    init(symbolCount: Int, commandCount: Int, warmupCommandCount: Int, seed: UInt64, initialLevelsPerSide: Int = 4) {
        precondition(warmupCommandCount <= commandCount, "warm-up longer than the flow")
        let flow = SyntheticOrderFlow.generate(.init(symbolCount: symbolCount, commandCount: commandCount, seed: seed))
        var symbols: [MatchingCommand] = []
        var orders: [MatchingCommand] = []
        orders.reserveCapacity(commandCount)
        for entry in flow.entries {
            guard case .command(let command) = entry else { continue }
            if case .addSymbol = command { symbols.append(command) } else { orders.append(command) }
        }
        precondition(symbols.count == symbolCount && orders.count == commandCount, "unexpected generated flow")

        engine = MatchingEngine(limits: generousLimits(symbolCount: symbolCount, initialLevelsPerSide: initialLevelsPerSide))
        events = []
        events.reserveCapacity(4_096)
        for command in symbols + orders[..<warmupCommandCount] {
            engine.apply(command, into: &events)
            events.removeAll(keepingCapacity: true)
        }
        commands = Array(orders[warmupCommandCount...])
    }

    /// Commands not applied yet.
    var remainingCommandCount: Int { commands.count - nextCommand }

    /// Applies the next `count` commands of the flow.
    ///
    /// - Precondition: `count <= remainingCommandCount`; the flow never wraps around.
    func applyNextCommands(_ count: Int) {
        precondition(count <= remainingCommandCount, "steady-state flow exhausted: raise commandCount or lower maxIterations")
        for position in nextCommand..<nextCommand + count {
            engine.apply(commands[position], into: &events)
            events.removeAll(keepingCapacity: true)
        }
        nextCommand += count
    }

    /// Where `placeAndCancel` places: set by `preparePlaceAndCancel(symbolID:)`.
    private var placement: (symbolID: SymbolID, price: Price)?
    /// Order ids of `placeAndCancel`: far above any id of the generated flow.
    private var nextPlacedOrderID: OrderID = 1 << 40

    /// Chooses where `placeAndCancel` places: a one-lot GTC buy at the best bid of
    /// `symbolID`, behind the orders resting there, so it neither trades nor opens a level.
    ///
    /// Then checks, outside any measurement, that one place-and-cancel rests and removes the
    /// order with exactly the expected events: a benchmark of rejections would prove nothing.
    /// - Precondition: the symbol has bids.
    func preparePlaceAndCancel(symbolID: SymbolID) {
        var bestBid: Price?
        engine.forEachRestingOrder(of: symbolID, side: .buy) { order in
            if bestBid == nil { bestBid = order.price }
        }
        guard let bestBid else { preconditionFailure("no bids on symbol \(symbolID.rawValue)") }
        placement = (symbolID, bestBid)

        let restingBefore = engine.restingOrderCount
        placeOrder()
        guard events.count == 2, case .accepted = events[0], case .levelChanged = events[1],
              engine.restingOrderCount == restingBefore + 1 else {
            preconditionFailure("the place did not rest: \(events)")
        }
        events.removeAll(keepingCapacity: true)
        cancelLastOrder()
        guard events.count == 2, case .canceled = events[0], case .levelChanged = events[1],
              engine.restingOrderCount == restingBefore else {
            preconditionFailure("the cancel did not remove the order: \(events)")
        }
        events.removeAll(keepingCapacity: true)
    }

    /// Places and cancels one order `count` times (see `preparePlaceAndCancel(symbolID:)`).
    func placeAndCancel(_ count: Int) {
        for _ in 0..<count {
            placeOrder()
            events.removeAll(keepingCapacity: true)
            cancelLastOrder()
            events.removeAll(keepingCapacity: true)
        }
    }

    private func placeOrder() {
        guard let placement else { preconditionFailure("preparePlaceAndCancel(symbolID:) not called") }
        engine.apply(
            .place(PlaceOrder(
                orderID: nextPlacedOrderID, userID: 1, symbolID: placement.symbolID, side: .buy, type: .limit,
                timeInForce: .goodTillCanceled, price: placement.price, quantity: Quantity(lots: 1))),
            into: &events)
        nextPlacedOrderID += 1
    }

    private func cancelLastOrder() {
        guard let placement else { preconditionFailure("preparePlaceAndCancel(symbolID:) not called") }
        engine.apply(
            .cancel(CancelOrder(orderID: nextPlacedOrderID - 1, userID: 1, symbolID: placement.symbolID)),
            into: &events)
    }
}

let benchmarks: @Sendable () -> Void = {
    for (symbolCount, levelsPerSide, label) in [(5, 4, "5 symbols"), (10_000, 64, "10,000 symbols, 64 levels reserved per side")] {
        Benchmark(
            "Matching steady state, \(label)",
            configuration: SteadyStateFlow.configuration
        ) { benchmark, warm in
            warm.applyNextCommands(benchmark.scaledIterations.count)
        } setup: {
            WarmEngine(
                symbolCount: symbolCount, commandCount: SteadyStateFlow.commandCount(symbolCount: symbolCount),
                warmupCommandCount: SteadyStateFlow.warmupCommandCount(symbolCount: symbolCount), seed: SteadyStateFlow.seed,
                initialLevelsPerSide: levelsPerSide)
        }
    }

    // One iteration is 1,000 place-and-cancel pairs (2,000 commands): figures read per pair.
    Benchmark(
        "Place and cancel one order",
        configuration: .init(
            metrics: measuredMetrics,
            warmupIterations: 10,
            scalingFactor: .kilo,
            maxDuration: .seconds(5),
            maxIterations: 2_000,
            thresholds: exactMallocCountThresholds)
    ) { benchmark, warm in
        warm.placeAndCancel(benchmark.scaledIterations.count)
    } setup: {
        let warm = WarmEngine(
            symbolCount: 5, commandCount: SteadyStateFlow.warmupCommandCount(symbolCount: 5),
            warmupCommandCount: SteadyStateFlow.warmupCommandCount(symbolCount: 5), seed: SteadyStateFlow.seed)
        warm.preparePlaceAndCancel(symbolID: SymbolID(0))
        return warm
    }

    // Control: exactly one malloc per operation (1,000 per iteration, its static threshold),
    // so that a malloc counter that silently reads zero fails the threshold check instead of
    // passing every zero-allocation benchmark.
    Benchmark(
        "Control, one malloc per operation",
        configuration: .init(
            metrics: measuredMetrics,
            warmupIterations: 1,
            scalingFactor: .kilo,
            maxDuration: .seconds(1),
            maxIterations: 100,
            thresholds: exactMallocCountThresholds)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
            blackHole(memory)
            memory.deallocate()
        }
    }
}
