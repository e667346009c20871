import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangePostgres
import ExchangeRedis
import ExchangeReplication
import Logging
import PostgresNIO

/// `exchange audit clearing`: proves from the logs that no money was made or lost.
///
/// Replays every clearing partition's input log on a fresh state machine (checking its output
/// log against the replay like `audit shards`), then checks: each partition's invariants (no
/// negative balance; frozen equal to what open orders and pending withdrawals hold); every
/// ledger transaction in the output logs sums to zero per asset; per asset, over the whole
/// cluster, what users and fee accounts hold equals deposits minus withdrawals plus
/// adjustments, with nothing left in settlement; every trade in the shards' output logs
/// settled exactly once on each side. With PostgreSQL: every ledger transaction there sums to
/// zero too, and its balances equal the replayed state (the recorder must have caught up).
public struct ClearingAuditor: Sendable {
    public struct Check: Sendable {
        public var name: String
        public var passed: Bool
        /// The figures behind the verdict, one line each.
        public var details: [String]
    }

    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func audit(postgres: PostgresClient? = nil) async throws -> [Check] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        var checks: [Check] = []
        var totals: [AssetCode: AssetTotals] = [:]
        var legs: [String: [LedgerTransaction]] = [:]
        var transactions = 0
        /// Per partition, the ids of the transactions its output log holds, in log order.
        var transactionIDs: [PartitionID: [UInt64]] = [:]
        var unbalanced: [String] = []
        var rejections: [ClearingRejection: Int] = [:]
        var logLines: [String] = []
        var logProblems = false
        var invariantLines: [String] = []
        var invariantsHold = true
        var states: [PartitionID: (state: ClearingState, position: LogPosition)] = [:]
        // Trimmed partition logs: the first transaction id kept, and the latest time before
        // which some partition's outputs (so some settlement legs) are gone.
        var firstTransactionKept: [PartitionID: UInt64] = [:]
        var legsKeptSince: UInt64 = 0
        for partition in 0..<PartitionID(map.partitionCount) {
            let replay = try await LogReplayAudit<ClearingPartitionMachine>(store: ReplicaLogStore(keys: .clearingPartition(partition), client: client))
            logLines.append("partition \(partition): \(replay.inputs) inputs, \(replay.outputs) outputs, epochs \(replay.epochs.sorted())"
                + (replay.problems.isEmpty ? "" : ": " + replay.problems.joined(separator: "; ")))
            logProblems = logProblems || !replay.problems.isEmpty || replay.outputs != replay.inputs
            let state = replay.machine.state
            states[partition] = (state, replay.outputPayloads.last?.position ?? 0)
            do {
                try state.checkInvariants()
                invariantLines.append("partition \(partition): \(state.balances.count) accounts, \(state.openOrders.count) open orders, \(state.withdrawals.count) pending withdrawals: invariants hold")
            } catch {
                invariantsHold = false
                invariantLines.append("partition \(partition): \(error)")
            }
            for (asset, total) in state.totals { totals[asset] = (totals[asset] ?? AssetTotals()) + total }
            if let trimmedBefore = replay.trimmedBeforeMicroseconds { legsKeptSince = max(legsKeptSince, trimmedBefore) }
            for output in replay.outputPayloads {
                for event in try ClearingLogCodec.decodeEvents(output.payload) {
                    switch event {
                    case .transaction(let transaction):
                        transactions += 1
                        transactionIDs[partition, default: []].append(transaction.id)
                        if replay.trimmedBeforeMicroseconds != nil, firstTransactionKept[partition] == nil {
                            firstTransactionKept[partition] = transaction.id
                        }
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
        checks.append(try await tradesSettled(map: map, legs: legs, legsKeptSince: legsKeptSince))
        if let postgres {
            checks += try await postgresChecks(postgres, states: states, transactionIDs: transactionIDs, firstTransactionKept: firstTransactionKept)
        }
        return checks
    }

    /// The ledger and balances in PostgreSQL against the replayed partitions: the ids of the
    /// recorded transactions are exactly the logs' (missing and extra ones named, as ranges).
    /// (Of a trimmed partition log, only the transactions it still holds are compared.)
    ///
    /// Every read is in one REPEATABLE READ transaction: the recorder writes an entry's ledger
    /// rows, balances and stream position in one transaction, so the audit sees each entry
    /// whole or not at all (read one by one, a commit between two reads once showed a recorder
    /// that had caught up with its position but not with its ledger).
    func postgresChecks(
        _ postgres: PostgresClient, states: [PartitionID: (state: ClearingState, position: LogPosition)], transactionIDs: [PartitionID: [UInt64]],
        firstTransactionKept: [PartitionID: UInt64]
    ) async throws -> [Check] {
        let logger = Logger(label: "exchange.audit")
        return try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            return try await Self.postgresChecks(on: connection, logger: logger, states: states, transactionIDs: transactionIDs,
                                                 firstTransactionKept: firstTransactionKept)
        }
    }

    static func postgresChecks(
        on postgres: PostgresConnection, logger: Logger, states: [PartitionID: (state: ClearingState, position: LogPosition)],
        transactionIDs: [PartitionID: [UInt64]], firstTransactionKept: [PartitionID: UInt64]
    ) async throws -> [Check] {
        var ledgerLines: [String] = []
        var ledgerComplete = true
        for partition in states.keys.sorted() {
            let first = Int64(firstTransactionKept[partition] ?? 0)
            var stored = Set<UInt64>()
            for try await id in try await postgres.query(
                "SELECT id FROM exchange_clearing.ledger_transactions WHERE partition = \(Int32(partition)) AND id >= \(first)", logger: logger
            ).decode(Int64.self) {
                stored.insert(UInt64(bitPattern: id))
            }
            let logged = transactionIDs[partition] ?? []
            let missing = Set(logged).subtracting(stored)
            let extra = stored.subtracting(logged)
            var line = "partition \(partition): \(stored.count) transactions in PostgreSQL, \(logged.count) in the log"
            if !missing.isEmpty { line += "; missing \(missing.count): " + Self.ranges(missing) }
            if !extra.isEmpty { line += "; not in the log \(extra.count): " + Self.ranges(extra) }
            ledgerComplete = ledgerComplete && missing.isEmpty && extra.isEmpty
            ledgerLines.append(line)
        }
        var unbalanced = 0
        for try await count in try await postgres.query("""
            SELECT count(*) FROM (SELECT partition, transaction_id, asset FROM exchange_clearing.ledger_entries
                                  GROUP BY partition, transaction_id, asset HAVING sum(amount) <> 0) AS unbalanced
            """, logger: logger).decode(Int.self) {
            unbalanced = count
        }
        let ledger = Check(
            name: "PostgreSQL: every ledger transaction sums to zero per asset; every one recorded",
            passed: unbalanced == 0 && ledgerComplete, details: ledgerLines + ["\(unbalanced) unbalanced"])
        let recorded = try await StreamPositions.all(on: postgres, logger: logger)
        var lines: [String] = []
        var equal = true
        for (partition, replay) in states.sorted(by: { $0.key < $1.key }) {
            let position = recorded[ReplicaLogKeys.clearingPartition(partition).output]?.position ?? 0
            if position != Int64(replay.position) {
                equal = false
                lines.append("partition \(partition): recorded through \(position) of \(replay.position): the recorder is behind")
            }
        }
        var database: [ClearingState.AccountKey: ClearingState.Balance] = [:]
        for try await (user, asset, available, frozen) in try await postgres.query(
            "SELECT user_id, asset, available, frozen FROM exchange_clearing.balances", logger: logger
        ).decode((Int64, String, Int64, Int64).self) {
            guard let code = AssetCode(asset) else { continue }
            database[ClearingState.AccountKey(user: UInt64(bitPattern: user), asset: code)] = ClearingState.Balance(available: available, frozen: frozen)
        }
        var replayed: [ClearingState.AccountKey: ClearingState.Balance] = [:]
        for replay in states.values { replayed.merge(replay.state.balances) { first, _ in first } }
        var differing = 0
        for key in Set(database.keys).union(replayed.keys).sorted() where (database[key] ?? .init()) != (replayed[key] ?? .init()) {
            differing += 1
            if differing <= 5 { lines.append("user \(key.user) \(key.asset): PostgreSQL \(database[key] ?? .init()), clearing \(replayed[key] ?? .init())") }
        }
        equal = equal && differing == 0
        lines.insert("\(database.count) balances in PostgreSQL, \(replayed.count) in the partitions, \(differing) differ", at: 0)
        return [ledger, Check(name: "PostgreSQL: balances equal the clearing state at the same positions", passed: equal, details: lines)]
    }

    /// `ids` as ascending ranges (`3-7, 9`), the first 5 and how many more.
    static func ranges(_ ids: Set<UInt64>) -> String {
        var ranges: [ClosedRange<UInt64>] = []
        for id in ids.sorted() {
            if let last = ranges.last, last.upperBound + 1 == id { ranges[ranges.count - 1] = last.lowerBound...id } else { ranges.append(id...id) }
        }
        let shown = ranges.prefix(5).map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        return shown.joined(separator: ", ") + (ranges.count > 5 ? " and \(ranges.count - 5) more ranges" : "")
    }

    /// Every trade of the shards' outputs has exactly two settlement legs (one per side), and
    /// no leg names a trade the shards did not make.
    ///
    /// Trimmed logs hold only the recent part of each side: a trade older than `legsKeptSince`
    /// (µs; the latest start of a trimmed partition log) may have its legs trimmed, and a leg
    /// may name a trade older than any its shard's log still holds for that symbol; neither is
    /// checked.
    func tradesSettled(map: ClusterMap, legs: [String: [LedgerTransaction]], legsKeptSince: UInt64) async throws -> Check {
        let registry = try await SymbolRegistry(client: client).all()
        let names = try await SymbolRegistry(client: client).names()
        var trades = Set<String>()
        var skipped = Set<String>()
        // Per symbol of a trimmed shard log: the first trade id it still holds (nil: none).
        var firstTradeKept: [String: UInt64?] = [:]
        for shard in map.shards.map(\.id) {
            let logs = try await ReplicaLogs(store: ReplicaLogStore(keys: .matchingShard(shard), client: client))
            let trimmed = (logs.outputs.first?.position ?? 1) > 1
            if trimmed {
                for (name, placement) in registry where placement.shard == shard { firstTradeKept[name] = .some(nil) }
            }
            for output in logs.outputs {
                for case .events(let events) in try ShardOutput.decode(output.payload) {
                    for case .traded(let trade) in events {
                        let name = names[SymbolPlacement(shard: shard, localID: trade.symbolID)] ?? "shard \(shard) symbol \(trade.symbolID)"
                        let memo = "\(name) trade \(trade.tradeID)"
                        if trimmed, firstTradeKept[name] == .some(nil) { firstTradeKept[name] = .some(trade.tradeID) }
                        if output.appendedAtMicroseconds < legsKeptSince { skipped.insert(memo) } else { trades.insert(memo) }
                    }
                }
            }
        }
        /// Whether the leg's trade may have been trimmed from its shard's log.
        func tradeTrimmed(_ memo: String) -> Bool {
            let parts = memo.split(separator: " ")
            guard parts.count == 3, let id = UInt64(parts[2]), let kept = firstTradeKept[String(parts[0])] else { return false }
            return kept.map { id < $0 } ?? true
        }
        let settled = Set(legs.keys).subtracting(skipped)
        let unsettled = trades.subtracting(settled).sorted()
        let unknown = settled.subtracting(trades).filter { !tradeTrimmed($0) }.sorted()
        let wrongCount = legs.filter { trades.contains($0.key) && $0.value.count != 2 }.keys.sorted()
        return Check(
            name: "every trade settled exactly once on both legs",
            passed: unsettled.isEmpty && unknown.isEmpty && wrongCount.isEmpty,
            details: ["\(trades.count) trades in the shards' outputs, \(settled.count) settled, \(legs.values.map(\.count).reduce(0, +)) legs"]
                + unsettled.prefix(5).map { "not settled: \($0)" } + unknown.prefix(5).map { "settled but never traded: \($0)" }
                + wrongCount.prefix(5).map { "\(legs[$0]!.count) legs: \($0)" })
    }
}
