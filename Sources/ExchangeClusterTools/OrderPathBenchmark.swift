import ExchangeClearing
import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplication

/// `exchange bench order-path`: feeds a generated flow through clearing into a running
/// cluster (clearing partitions and matching shards) and measures from the
/// outside:
///
/// - orders per second end to end: places fed, over the time from the first append to the
///   last clearing output of the run;
/// - per place, append → accepted: from the place's clearing input entry (Redis time) to that
///   entry's clearing output being appended (Redis time; funds frozen and the order forwarded,
///   or refused);
/// - per trade, append → settled: from the taker's place entry to the later of the clearing
///   outputs that settle its two legs (the producer → clearing → matcher → clearing path),
///   appended, and read by a tailing client (which adds the reader's wake-up);
/// - settled trade legs per partition, and per 100 ms of the run.
///
/// Symbols are listed and users funded before the clock starts. Commands of one entry share
/// its latency; each counts once. Same host, same clock (see `OutputLogTail`).
public struct OrderPathBenchmark: Sendable {
    public struct Result: Sendable {
        /// Places fed and flow lines (places, cancels, amends) fed.
        public var places: Int
        public var commands: Int
        /// From the first append to the last clearing output seen.
        public var seconds: Double
        public var ordersPerSecond: Double { Double(places) / seconds }
        /// Append → accepted per place, in µs.
        public var acceptedMicroseconds: [UInt64]
        /// Per trade, append of the taker's place → both legs settled, and its steps.
        public var stages: Stages
        /// Trade legs settled per partition.
        public var legsByPartition: [PartitionID: Int]
        /// Trade legs settled (all partitions) per 100 ms interval from the start.
        public var legsPerInterval: [Int]
        /// The places or trades whose clearing output was never seen (expect none).
        public var unseen: Int
    }

    /// Per trade, in µs: the whole path and each of its steps (they add up to `settled`).
    public struct Stages: Sendable {
        /// Append of the taker's place → both legs settled.
        public var settled: [UInt64] = []
        /// The taker's place: appended to clearing → forwarded (appended to its shard's input by
        /// clearing's primary, before the place's output).
        public var clearing: [UInt64] = []
        /// Forwarded → both legs appended to clearing (by the shard's primary).
        public var matching: [UInt64] = []
        /// Legs appended → both settled (clearing outputs appended).
        public var settlement: [UInt64] = []
        /// Append of the taker's place → both legs' clearing outputs read by a tailing client.
        public var settledRead: [UInt64] = []

        /// Each step with its name, in path order.
        public var steps: [(name: String, microseconds: [UInt64])] {
            [("clearing: place appended to forwarded", clearing), ("matching: forwarded to legs appended", matching),
             ("settlement: legs appended to settled", settlement)]
        }
    }

    public let client: RedisClient
    public let endpoint: RedisEndpoint
    public let feeder: ClearingFlowFeeder

    public init(client: RedisClient, endpoint: RedisEndpoint, feeder: ClearingFlowFeeder) {
        self.client = client
        self.endpoint = endpoint
        self.feeder = feeder
    }

    /// Feeds `flow` (`rate` flow lines per second if given) and waits until the whole path is
    /// quiet (every log caught up, three polls in a row), or `timeout`.
    public func run(_ flow: OrderFlow, rate: Double?, timeout: Duration = .seconds(600)) async throws -> Result {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let partitions = (0..<PartitionID(map.partitionCount)).map(ReplicaLogKeys.clearingPartition)
        let shards = map.shards.map { ReplicaLogKeys.matchingShard($0.id) }
        let prepared = try await feeder.prepare(flow)
        try await ReplicaLogStore.waitUntilCaughtUp(shards + partitions, client: client, timeout: timeout, pollsInARow: 3)
        var starts: [ReplicaLogKeys: (length: LogPosition, outputID: StreamID)] = [:]
        for keys in partitions + shards {
            let store = ReplicaLogStore(keys: keys, client: client)
            starts[keys] = (try await store.inputLength(), try await store.lastOutputID())
        }
        let startedAt = OutputLogTail.microsecondsSinceEpoch()
        let tail = OutputLogTail(endpoint: endpoint, logs: partitions.map { ($0.output, starts[$0]!.outputID) }, weight: { _ in 1 })
        try await feeder.feed(flow, prepared: prepared, rate: rate)
        try await ReplicaLogStore.waitUntilCaughtUp(shards + partitions, client: client, timeout: timeout, pollsInARow: 3)
        let seenByLog = try await tail.finish()
        var timeline = Timeline(producer: prepared.producer, flow: flow)
        let logs = shards.map { ($0, Timeline.Log.shard) } + partitions.enumerated().map { ($1, Timeline.Log.partition(PartitionID($0))) }
        for (keys, log) in logs {
            let entries = try await ReplicaLogStore(keys: keys, client: client).allTaggedInput(after: starts[keys]!.length)
            try timeline.add(entries.map(\.entry), outputs: seenByLog[keys.output] ?? [], of: log)
        }
        return timeline.result(startedAt: startedAt, commands: flow.entries.reduce(0) { count, entry in
            if case .command(let command) = entry, command.symbolID != nil { count + 1 } else { count }
        })
    }

}

/// When each step of the order path happened to each order and trade of a run (µs since
/// the Unix epoch; appends and outputs in Redis time, and when the tail read outputs).
struct Timeline {
    struct OrderTimes {
        /// The place's clearing input entry was appended; its output (accepted) appended.
        var placed: UInt64?
        var accepted: UInt64?
        /// The forwarded place's shard input entry was appended.
        var forwarded: UInt64?
    }

    struct TradeKey: Hashable {
        var symbol: SymbolID
        var tradeID: UInt64
    }

    struct TradeTimes {
        var takerOrder: OrderID?
        /// The later of its two legs' clearing input appends, of their outputs' appends
        /// (settled), and of their outputs' reads.
        var legsAppended: UInt64 = 0
        var settled: UInt64 = 0
        var settledRead: UInt64 = 0
        var legs = 0
    }

    let producer: ProducerID
    var symbolOfOrder: [OrderID: SymbolID] = [:]
    var orders: [OrderID: OrderTimes] = [:]
    var trades: [TradeKey: TradeTimes] = [:]
    var legsByPartition: [PartitionID: Int] = [:]
    /// When the last clearing output of the run was read.
    var lastOutput: UInt64 = 0

    init(producer: ProducerID, flow: OrderFlow) {
        self.producer = producer
        for case .command(.place(let order)) in flow.entries { symbolOfOrder[order.orderID] = order.symbolID }
    }

    /// Which log a batch of entries comes from.
    enum Log {
        case shard
        case partition(PartitionID)
    }

    /// Adds one log's input entries of the run and the outputs the tail read (shards' are
    /// not needed).
    mutating func add(_ entries: [InputEntry], outputs: [OutputLogTail.Seen], of log: Log) throws {
        var outputAt: [LogPosition: (appended: UInt64, read: UInt64)] = [:]
        for seen in outputs { outputAt[seen.position] = (seen.appendedAtMicroseconds, seen.receivedAtMicroseconds) }
        switch log {
        case .shard:
            for entry in entries {
                guard case .commands(_, let commands) = try ShardInput.decode(entry.payload) else { continue }
                for case .place(let order) in commands { orders[order.orderID, default: OrderTimes()].forwarded = entry.timestampMicroseconds }
            }
        case .partition(let partition):
            lastOutput = max(lastOutput, outputs.map(\.receivedAtMicroseconds).max() ?? 0)
            for entry in entries {
                try addClearing(ClearingLogCodec.decodeInput(entry.payload), appendedAt: entry.timestampMicroseconds,
                                outputAt: outputAt[entry.position], partition: partition)
            }
        }
    }

    /// Adds a clearing input entry: the run's places and every trade leg.
    private mutating func addClearing(
        _ input: ClearingInput, appendedAt: UInt64, outputAt: (appended: UInt64, read: UInt64)?, partition: PartitionID
    ) {
        for command in input.commands {
            switch command {
            case .place(let order) where input.producer == producer:
                orders[order.orderID, default: OrderTimes()].placed = appendedAt
                orders[order.orderID, default: OrderTimes()].accepted = outputAt?.appended
            case .tradeLeg(let leg):
                guard let symbol = symbolOfOrder[leg.orderID] else { continue }
                legsByPartition[partition, default: 0] += 1
                let key = TradeKey(symbol: symbol, tradeID: leg.tradeID)
                var trade = trades[key] ?? TradeTimes()
                if !leg.isMaker { trade.takerOrder = leg.orderID }
                trade.legsAppended = max(trade.legsAppended, appendedAt)
                trade.settled = max(trade.settled, outputAt?.appended ?? .max)
                trade.settledRead = max(trade.settledRead, outputAt?.read ?? .max)
                trade.legs += 1
                trades[key] = trade
            default:
                continue
            }
        }
    }

    func result(startedAt: UInt64, commands: Int) -> OrderPathBenchmark.Result {
        var unseen = 0
        var accepted: [UInt64] = []
        var places = 0
        for times in orders.values {
            guard let placed = times.placed else { continue }
            places += 1
            guard let at = times.accepted else { unseen += 1; continue }
            accepted.append(at.saturatingSubtract(placed))
        }
        var stages = OrderPathBenchmark.Stages()
        var legsPerInterval: [Int] = []
        for trade in trades.values {
            guard trade.legs == 2, trade.settled != .max, let taker = trade.takerOrder.flatMap({ orders[$0] }),
                  let placed = taker.placed, let forwarded = taker.forwarded
            else {
                unseen += 1
                continue
            }
            stages.settled.append(trade.settled.saturatingSubtract(placed))
            stages.clearing.append(forwarded.saturatingSubtract(placed))
            stages.matching.append(trade.legsAppended.saturatingSubtract(forwarded))
            stages.settlement.append(trade.settled.saturatingSubtract(trade.legsAppended))
            stages.settledRead.append(trade.settledRead.saturatingSubtract(placed))
            let interval = Int(trade.settled.saturatingSubtract(startedAt) / 100_000)
            if legsPerInterval.count <= interval { legsPerInterval += repeatElement(0, count: interval + 1 - legsPerInterval.count) }
            legsPerInterval[interval] += 2
        }
        return OrderPathBenchmark.Result(
            places: places, commands: commands, seconds: Double(max(lastOutput, startedAt + 1) - startedAt) / 1e6,
            acceptedMicroseconds: accepted, stages: stages, legsByPartition: legsByPartition, legsPerInterval: legsPerInterval,
            unseen: unseen)
    }
}

public enum OrderPathBenchmarkError: Error, CustomStringConvertible {
    case unseen(Int)

    public var description: String {
        switch self {
        case .unseen(let count): "\(count) places or trades never had their clearing output seen"
        }
    }
}

extension UInt64 {
    /// `self - other`, or 0 when `other` is larger (clock readings of two processes).
    func saturatingSubtract(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
