import ExchangeClearing
import ExchangeCore
import Logging
import PostgresNIO

/// One batch of a clearing partition's output log as rows: ledger transactions and their
/// entries, appended; users' and the partition's balances, moved by the entries' sums.
/// Written in the caller's transaction with multi-row `unnest` inserts.
///
/// Ids and amounts are `bigint`: `UInt64` ids are stored by bit pattern (ids above
/// `Int64.max` read back negative); a missing user (partition accounts) is NULL.
public struct LedgerProjection: Sendable {
    public let partition: Int32
    var transactionIDs: [Int64] = []
    var kinds: [String] = []
    var producers: [String] = []
    var positions: [Int64] = []
    var indexes: [Int32] = []
    var memos: [String] = []
    var entryTransactions: [Int64] = []
    var entrySeqs: [Int32] = []
    var entryAccounts: [String] = []
    var entryUsers: [Int64] = []
    var entryAssets: [String] = []
    var entryAmounts: [Int64] = []
    var userDeltas: [ClearingState.AccountKey: (available: Int64, frozen: Int64)] = [:]
    /// Partition accounts' movements, by (account, asset).
    var systemDeltas: [SystemAccount: Int64] = [:]

    struct SystemAccount: Hashable, Comparable, Sendable {
        var account: String
        var asset: String
        static func < (lhs: SystemAccount, rhs: SystemAccount) -> Bool { (lhs.account, lhs.asset) < (rhs.account, rhs.asset) }
    }

    public init(partition: UInt32) { self.partition = Int32(partition) }

    /// Rows written per batch: transactions plus entries.
    public var rowCount: Int { transactionIDs.count + entryTransactions.count }

    public mutating func add(_ events: [ClearingEvent]) {
        for case .transaction(let transaction) in events {
            transactionIDs.append(Int64(bitPattern: transaction.id))
            kinds.append("\(transaction.kind)")
            producers.append(transaction.cause.producer.name)
            positions.append(Int64(bitPattern: transaction.cause.position))
            indexes.append(Int32(clamping: transaction.cause.index))
            memos.append(transaction.memo)
            for (seq, entry) in transaction.entries.enumerated() {
                entryTransactions.append(Int64(bitPattern: transaction.id))
                entrySeqs.append(Int32(clamping: seq))
                entryAssets.append(entry.asset.text)
                entryAmounts.append(entry.amount)
                switch entry.account {
                case .available(let user), .frozen(let user):
                    let isAvailable = if case .available = entry.account { true } else { false }
                    entryAccounts.append(isAvailable ? "available" : "frozen")
                    entryUsers.append(Int64(bitPattern: user))
                    var delta = userDeltas[ClearingState.AccountKey(user: user, asset: entry.asset)] ?? (0, 0)
                    // Balances never leave Int64 (clearing refuses overflow), so their deltas cannot either.
                    if isAvailable { delta.available &+= entry.amount } else { delta.frozen &+= entry.amount }
                    userDeltas[ClearingState.AccountKey(user: user, asset: entry.asset)] = delta
                case .fees, .external, .adjustments, .settlement:
                    let account = "\(entry.account)"
                    entryAccounts.append(account)
                    entryUsers.append(-1)
                    systemDeltas[SystemAccount(account: account, asset: entry.asset.text), default: 0] &+= entry.amount
                }
            }
        }
    }

    public func write(on connection: PostgresConnection, logger: Logger) async throws {
        guard !transactionIDs.isEmpty else { return }
        try await connection.query("""
            INSERT INTO exchange_clearing.ledger_transactions (partition, id, kind, producer, position, command_index, memo)
            SELECT \(partition), * FROM unnest(\(transactionIDs)::bigint[], \(kinds)::text[], \(producers)::text[],
                                               \(positions)::bigint[], \(indexes)::integer[], \(memos)::text[])
            """, logger: logger)
        try await connection.query("""
            INSERT INTO exchange_clearing.ledger_entries (partition, transaction_id, seq, account, user_id, asset, amount)
            SELECT \(partition), t, s, a, NULLIF(u, -1), x, m
            FROM unnest(\(entryTransactions)::bigint[], \(entrySeqs)::integer[], \(entryAccounts)::text[],
                        \(entryUsers)::bigint[], \(entryAssets)::text[], \(entryAmounts)::bigint[]) AS e(t, s, a, u, x, m)
            """, logger: logger)
        let users = userDeltas.sorted { $0.key < $1.key }
        if !users.isEmpty {
            let ids = users.map { Int64(bitPattern: $0.key.user) }
            let assets = users.map(\.key.asset.text)
            let available = users.map(\.value.available)
            let frozen = users.map(\.value.frozen)
            try await connection.query("""
                INSERT INTO exchange_clearing.balances (user_id, asset, available, frozen)
                SELECT * FROM unnest(\(ids)::bigint[], \(assets)::text[], \(available)::bigint[], \(frozen)::bigint[])
                ON CONFLICT (user_id, asset) DO UPDATE
                SET available = balances.available + excluded.available, frozen = balances.frozen + excluded.frozen
                """, logger: logger)
        }
        let system = systemDeltas.sorted { $0.key < $1.key }
        if !system.isEmpty {
            let accounts = system.map(\.key.account)
            let assets = system.map(\.key.asset)
            let amounts = system.map(\.value)
            try await connection.query("""
                INSERT INTO exchange_clearing.system_balances (partition, account, asset, amount)
                SELECT \(partition), * FROM unnest(\(accounts)::text[], \(assets)::text[], \(amounts)::bigint[])
                ON CONFLICT (partition, account, asset) DO UPDATE SET amount = system_balances.amount + excluded.amount
                """, logger: logger)
        }
    }
}
