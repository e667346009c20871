import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis

/// `exchange audit clearing`: proves from the logs that no money was made or lost.
///
/// Replays every clearing partition's input log on a fresh state machine (checking its output
/// log against the replay like `audit shards`), then checks: each partition's invariants (no
/// negative balance; frozen equal to what open orders and pending withdrawals hold); every
/// ledger transaction in the output logs sums to zero per asset; per asset, over the whole
/// cluster, what users and fee accounts hold equals deposits minus withdrawals plus
/// adjustments, with nothing left in settlement; every trade in the shards' output logs
/// settled exactly once on each side.
public struct ClearingAuditor: Sendable {
    public struct Check: Sendable {
        public var name: String
        public var passed: Bool
        /// The figures behind the verdict, one line each.
        public var details: [String]
    }

    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func audit() async throws -> [Check] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        var checks: [Check] = []
        var totals: [AssetCode: AssetTotals] = [:]
        var legs: [String: [LedgerTransaction]] = [:]
        var transactions = 0
        var unbalanced: [String] = []
        var rejections: [ClearingRejection: Int] = [:]
        var logLines: [String] = []
        var logProblems = false
        var invariantLines: [String] = []
        var invariantsHold = true
        for partition in 0..<PartitionID(map.partitionCount) {
            let replay = try await LogReplayAudit<ClearingPartitionMachine>(store: ReplicaLogStore(keys: .clearingPartition(partition), client: client))
            logLines.append("partition \(partition): \(replay.inputs) inputs, \(replay.outputs) outputs, epochs \(replay.epochs.sorted())"
                + (replay.problems.isEmpty ? "" : ": " + replay.problems.joined(separator: "; ")))
            logProblems = logProblems || !replay.problems.isEmpty || replay.outputs != replay.inputs
            let state = replay.machine.state
            do {
                try state.checkInvariants()
                invariantLines.append("partition \(partition): \(state.balances.count) accounts, \(state.openOrders.count) open orders, \(state.withdrawals.count) pending withdrawals: invariants hold")
            } catch {
                invariantsHold = false
                invariantLines.append("partition \(partition): \(error)")
            }
            for (asset, total) in state.totals { totals[asset] = (totals[asset] ?? AssetTotals()) + total }
            for output in replay.outputPayloads {
                for event in try ClearingLogCodec.decodeEvents(output.payload) {
                    switch event {
                    case .transaction(let transaction):
                        transactions += 1
                        if !transaction.isBalanced { unbalanced.append("partition \(partition) transaction \(transaction.id)") }
                        if transaction.kind == .tradeSettlement { legs[transaction.memo, default: []].append(transaction) }
                    case .rejected(_, let reason):
                        rejections[reason, default: 0] += 1
                    default:
                        break
                    }
                }
            }
        }
        checks.append(Check(name: "output logs equal a fresh replay of the input logs, complete", passed: !logProblems, details: logLines))
        checks.append(Check(name: "partition invariants (no negative balance; frozen = open orders + pending withdrawals)", passed: invariantsHold, details: invariantLines))
        checks.append(Check(
            name: "every ledger transaction sums to zero per asset", passed: unbalanced.isEmpty,
            details: ["\(transactions) transactions, \(unbalanced.count) unbalanced; commands refused: "
                + (rejections.isEmpty ? "none" : rejections.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))]
                + unbalanced.prefix(10)))
        var conserved = true
        var moneyLines: [String] = []
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) {
            let holds = total.held == total.netDeposits + total.netAdjustments && total.settlement == 0
            conserved = conserved && holds
            moneyLines.append("\(asset): available \(total.available) + frozen \(total.frozen) + fees \(total.fees) = \(total.held); "
                + "deposits - withdrawals \(total.netDeposits), adjustments \(total.netAdjustments), in settlement \(total.settlement)"
                + (holds ? "" : "  <-- does not add up"))
        }
        checks.append(Check(name: "per asset: held = deposits - withdrawals + adjustments, nothing in settlement", passed: conserved, details: moneyLines))
        checks.append(try await tradesSettled(map: map, legs: legs))
        return checks
    }

    /// Every trade of the shards' outputs has exactly two settlement legs (one per side), and
    /// no leg names a trade the shards did not make.
    func tradesSettled(map: ClusterMap, legs: [String: [LedgerTransaction]]) async throws -> Check {
        let registry = try await SymbolRegistry(client: client).all()
        var names: [SymbolPlacement: String] = [:]
        for (name, placement) in registry { names[placement] = name }
        var trades = Set<String>()
        for shard in map.shards.map(\.id) {
            let logs = try await ReplicaLogs(store: ReplicaLogStore(keys: .matchingShard(shard), client: client))
            for output in logs.outputs {
                for case .events(let events) in try ShardOutput.decode(output.payload) {
                    for case .traded(let trade) in events {
                        let name = names[SymbolPlacement(shard: shard, localID: trade.symbolID)] ?? "shard \(shard) symbol \(trade.symbolID)"
                        trades.insert("\(name) trade \(trade.tradeID)")
                    }
                }
            }
        }
        let settled = Set(legs.keys)
        let unsettled = trades.subtracting(settled).sorted()
        let unknown = settled.subtracting(trades).sorted()
        let wrongCount = legs.filter { $0.value.count != 2 }.keys.sorted()
        return Check(
            name: "every trade settled exactly once on both legs",
            passed: unsettled.isEmpty && unknown.isEmpty && wrongCount.isEmpty,
            details: ["\(trades.count) trades in the shards' outputs, \(settled.count) settled, \(legs.values.map(\.count).reduce(0, +)) legs"]
                + unsettled.prefix(5).map { "not settled: \($0)" } + unknown.prefix(5).map { "settled but never traded: \($0)" }
                + wrongCount.prefix(5).map { "\(legs[$0]!.count) legs: \($0)" })
    }
}
