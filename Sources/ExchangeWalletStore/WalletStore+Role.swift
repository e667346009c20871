import ExchangeChain
import ExchangePostgres
import ExchangeWallet
import Logging
import PostgresNIO

/// The active wallet instance's right to write: `holder` (unique per process) at `epoch`.
public struct WalletFence: Sendable, Equatable {
    public var holder: String
    public var epoch: Int64
}

/// A clearing command the wallet owes, with the position it was (or is now) sent at.
public struct OutboxEntry: Sendable, Equatable {
    public var id: Int64
    public var kind: WalletStore.OutboxKind
    public var reference: Int64
    public var user: Int64
    public var asset: String
    public var amount: Int64
    public var position: Int64
}

/// What the wallet role writes: its lease, the watcher's progress with the deposits of each
/// block, the outbox, and withdrawals as it signs, broadcasts and follows them. Every write
/// is fenced: it happens only in a transaction that still finds this instance's lease.
extension WalletStore {
    static let leaseName = "wallet"

    /// Takes or renews the lease for `duration` ms; returns the fence while this instance holds it.
    public func acquireLease(holder: String, durationMilliseconds: Int64) async throws -> WalletFence? {
        for try await epoch in try await postgres.query("""
            INSERT INTO exchange_wallet.lease AS l (name, holder, epoch, expires_at)
            VALUES (\(Self.leaseName), \(holder), 1, now() + make_interval(secs => \(Double(durationMilliseconds) / 1000)))
            ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
              epoch = l.epoch + CASE WHEN l.holder = EXCLUDED.holder THEN 0 ELSE 1 END
            WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
            RETURNING epoch
            """, logger: logger).decode(Int64.self) { return WalletFence(holder: holder, epoch: epoch) }
        return nil
    }

    /// Runs `body` in a transaction that first locks and checks the lease of `fence`.
    public func fenced<Result: Sendable>(_ fence: WalletFence, _ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await postgres.withTransaction(logger: logger) { connection in
            var held = false
            for try await _ in try await connection.query("""
                SELECT 1 FROM exchange_wallet.lease WHERE name = \(Self.leaseName) AND holder = \(fence.holder) AND epoch = \(fence.epoch)
                  AND expires_at > now() FOR UPDATE
                """, logger: logger) { held = true }
            guard held else { throw WalletStoreError.fenced }
            return try await body(connection)
        }
    }

    // MARK: The watcher

    /// Addresses the watcher follows on `chain`, stored at or after `sinceMicroseconds` (since
    /// the Unix epoch; nil: all): address → (user, asset), and the newest creation time seen.
    public func watchedAddresses(chain: String, sinceMicroseconds: Int64?) async throws -> (addresses: [String: (user: Int64, asset: String)], newest: Int64?) {
        var addresses: [String: (Int64, String)] = [:]
        var newest: Int64?
        for try await (address, user, asset, created) in try await postgres.query("""
            SELECT address, user_id, asset, (extract(epoch FROM created_at) * 1000000)::bigint FROM exchange_wallet.addresses
            WHERE chain = \(chain) AND (\(sinceMicroseconds)::bigint IS NULL OR created_at >= to_timestamp(\(sinceMicroseconds) / 1000000.0))
            """, logger: logger).decode((String, Int64, String, Int64).self) {
            addresses[address] = (user, asset)
            newest = max(newest ?? created, created)
        }
        return (addresses, newest)
    }

    /// The tracker as stored for `chain` (its kept blocks and the deposits they may touch).
    public func restoreTracker(chain: String, confirmations: UInt64, keptBlocks: Int, startBlock: UInt64) async throws -> DepositTracker {
        var blocks: [(number: UInt64, hash: String)] = []
        for try await (number, hash) in try await postgres.query("""
            SELECT number, hash FROM exchange_wallet.blocks WHERE chain = \(chain) ORDER BY number DESC LIMIT \(keptBlocks)
            """, logger: logger).decode((Int64, String).self) { blocks.insert((UInt64(number), hash), at: 0) }
        var deposits: [Deposit] = []
        let oldest = Int64(blocks.first?.number ?? 0)
        for try await (tx, index, address, amount, state, number, hash, orphaned) in try await postgres.query("""
            SELECT tx_hash, output_index, address, amount::text, state, block_number, block_hash, orphaned FROM exchange_wallet.deposits
            WHERE chain = \(chain) AND (block_number >= \(oldest) OR orphaned OR state IN ('PENDING', 'CONFIRMED'))
            """, logger: logger).decode((String, Int32, String, String, String, Int64, String, Bool).self) {
            guard let amount = UInt128(amount), let state = DepositState(rawValue: state) else { throw WalletStoreError.corrupt("deposit \(tx)") }
            deposits.append(Deposit(
                payment: ChainPayment(key: .init(transactionHash: tx, outputIndex: UInt32(index)), address: address, amount: amount), state: state,
                blockNumber: UInt64(number), blockHash: hash, orphaned: orphaned))
        }
        return DepositTracker(confirmations: confirmations, keptBlocks: keptBlocks, startBlock: startBlock, restoringBlocks: blocks, deposits: deposits)
    }

    /// Stores what the tracker did with one block (`applied`, its payments as deposits) or a
    /// rollback (`rolledBackTo`), its events, and the credits they call for, in one fenced
    /// transaction. A deposit is credited (CONFIRMED → CREDITED, a clearing `deposit` queued)
    /// only from the CONFIRMED state stored here, so a payment is credited at most once
    /// whatever the tracker's memory says. Returns the keys credited.
    public func record(
        chain: String, applied: WatchedBlock?, rolledBackTo: UInt64?, events: [DepositEvent], owners: [String: (user: Int64, asset: String)],
        assets: [String: WalletAsset], keptBlocks: Int, fence: WalletFence
    ) async throws -> [ChainPayment.Key] {
        try await fenced(fence) { connection in
            if let rolledBackTo {
                try await connection.query("DELETE FROM exchange_wallet.blocks WHERE chain = \(chain) AND number > \(Int64(rolledBackTo))", logger: logger)
                try await setProgress(chain: chain, through: Int64(rolledBackTo), on: connection)
            }
            if let block = applied {
                try await connection.query("""
                    INSERT INTO exchange_wallet.blocks (chain, number, hash) VALUES (\(chain), \(Int64(block.number)), \(block.hash))
                    ON CONFLICT (chain, number) DO UPDATE SET hash = EXCLUDED.hash
                    """, logger: logger)
                try await connection.query(
                    "DELETE FROM exchange_wallet.blocks WHERE chain = \(chain) AND number <= \(Int64(block.number) - Int64(keptBlocks))", logger: logger)
                try await setProgress(chain: chain, through: Int64(block.number), on: connection)
                for payment in block.payments {
                    guard let owner = owners[payment.address], let asset = assets[owner.asset] else { continue }
                    let units = asset.units(ofBase: payment.amount) ?? 0
                    try await connection.query("""
                        INSERT INTO exchange_wallet.deposits AS d (chain, tx_hash, output_index, user_id, asset, address, amount, units, state, block_number, block_hash)
                        VALUES (\(chain), \(payment.key.transactionHash), \(Int32(payment.key.outputIndex)), \(owner.user), \(owner.asset), \(payment.address),
                          \(String(payment.amount))::numeric, \(units), 'PENDING', \(Int64(block.number)), \(block.hash))
                        ON CONFLICT (chain, tx_hash, output_index) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
                          orphaned = false, state = CASE WHEN d.state = 'CANCELLED' THEN 'PENDING' ELSE d.state END, updated_at = now()
                        """, logger: logger)
                }
            }
            var credited: [ChainPayment.Key] = []
            for event in events {
                switch event {
                case .seen:
                    break  // stored with its block above
                case .confirmed(let key):
                    try await connection.query("""
                        UPDATE exchange_wallet.deposits SET state = 'CONFIRMED', updated_at = now()
                        WHERE chain = \(chain) AND tx_hash = \(key.transactionHash) AND output_index = \(Int32(key.outputIndex)) AND state = 'PENDING'
                        """, logger: logger)
                    for try await (id, user, asset, units) in try await connection.query("""
                        UPDATE exchange_wallet.deposits SET state = CASE WHEN units > 0 THEN 'CREDITED' ELSE 'COMPLETED' END, updated_at = now()
                        WHERE chain = \(chain) AND tx_hash = \(key.transactionHash) AND output_index = \(Int32(key.outputIndex)) AND state = 'CONFIRMED'
                        RETURNING deposit_id, user_id, asset, units
                        """, logger: logger).decode((Int64, Int64, String, Int64).self) {
                        if units > 0 { try await Self.enqueue(.deposit, reference: id, user: user, asset: asset, amount: units, on: connection, logger: logger) }
                        credited.append(key)
                    }
                case .cancelled(let key):
                    try await connection.query("""
                        UPDATE exchange_wallet.deposits SET state = 'CANCELLED', updated_at = now()
                        WHERE chain = \(chain) AND tx_hash = \(key.transactionHash) AND output_index = \(Int32(key.outputIndex)) AND state IN ('PENDING', 'CONFIRMED')
                        """, logger: logger)
                case .reorgAfterCredit(let key, let number):
                    try await connection.query("""
                        WITH orphaned AS (
                          UPDATE exchange_wallet.deposits SET orphaned = true, updated_at = now()
                          WHERE chain = \(chain) AND tx_hash = \(key.transactionHash) AND output_index = \(Int32(key.outputIndex)) RETURNING deposit_id)
                        INSERT INTO exchange_wallet.cases (deposit_id, detail)
                        SELECT deposit_id, \("a reorganisation deeper than the confirmations removed block \(number) holding credited deposit \(key)") FROM orphaned
                        """, logger: logger)
                }
            }
            return credited
        }
    }

    func setProgress(chain: String, through number: Int64, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO exchange_wallet.watchers (chain, applied_through) VALUES (\(chain), \(number))
            ON CONFLICT (chain) DO UPDATE SET applied_through = EXCLUDED.applied_through
            """, logger: logger)
    }

    // MARK: The outbox

    /// The entry to send now: one sent before and not settled (resent with its position), or
    /// else the oldest queued one, given the next position. Nil when the outbox is empty.
    public func nextOutboxEntry(fence: WalletFence) async throws -> OutboxEntry? {
        try await fenced(fence) { connection in
            let columns = "outbox_id, kind, reference, user_id, asset, amount, position"
            var rows = try await connection.query(
                "SELECT \(unescaped: columns) FROM exchange_wallet.outbox WHERE state = 'SENT' ORDER BY position LIMIT 1", logger: logger)
            if let entry = try await Self.outboxEntries(rows).first { return entry }
            rows = try await connection.query("""
                UPDATE exchange_wallet.outbox SET state = 'SENT', position = nextval('exchange_wallet.positions')
                WHERE outbox_id = (SELECT min(outbox_id) FROM exchange_wallet.outbox WHERE state = 'QUEUED') RETURNING \(unescaped: columns)
                """, logger: logger)
            return try await Self.outboxEntries(rows).first
        }
    }

    static func outboxEntries(_ rows: PostgresRowSequence) async throws -> [OutboxEntry] {
        var entries: [OutboxEntry] = []
        for try await (id, kind, reference, user, asset, amount, position) in rows.decode((Int64, String, Int64, Int64, String, Int64, Int64).self) {
            guard let kind = OutboxKind(rawValue: kind) else { throw WalletStoreError.corrupt("outbox entry \(id)") }
            entries.append(OutboxEntry(id: id, kind: kind, reference: reference, user: user, asset: asset, amount: amount, position: position))
        }
        return entries
    }

    /// Clearing applied `entry` (`rejection` nil) or refused it: the entry is settled and what
    /// it was for moves on (a deposit COMPLETED; a withdrawal held, or FAILED with nothing frozen).
    public func settle(_ entry: OutboxEntry, rejection: String?, fence: WalletFence) async throws {
        try await fenced(fence) { connection in
            try await connection.query("""
                UPDATE exchange_wallet.outbox SET state = \(rejection == nil ? "APPLIED" : "REJECTED"), result = \(rejection) WHERE outbox_id = \(entry.id)
                """, logger: logger)
            switch (entry.kind, rejection) {
            case (.deposit, nil):
                try await connection.query(
                    "UPDATE exchange_wallet.deposits SET state = 'COMPLETED', updated_at = now() WHERE deposit_id = \(entry.reference) AND state = 'CREDITED'",
                    logger: logger)
            case (.hold, nil):
                _ = try await Self.transition(entry.reference, on: connection, logger: logger) { record in
                    if record.state == .holding { try record.held() }
                    return false
                }
            case (.hold, let reason?):
                _ = try await Self.transition(entry.reference, on: connection, logger: logger) { record in
                    record.state == .holding ? try record.fail(reason) : false
                }
            case (.deposit, _?), (.complete, _), (.release, _):
                break  // a refused deposit, completion or release is an operator's matter: the entry keeps the reason
            }
        }
    }

    /// Withdrawals of `asset` the wallet still works on (APPROVED, PROCESSING, ON_CHAIN), oldest first.
    public func workingWithdrawals(asset: String) async throws -> [WithdrawalRecord] {
        try await Self.withdrawals(try await postgres.query("""
            SELECT \(unescaped: Self.withdrawalColumns) FROM exchange_wallet.withdrawals
            WHERE asset = \(asset) AND state IN ('APPROVED', 'PROCESSING', 'ON_CHAIN') ORDER BY withdrawal_id
            """, logger: logger)).map(\.record)
    }

    /// The highest nonce any stored transaction of `asset` took; nil if none.
    public func highestNonce(asset: String) async throws -> UInt64? {
        for try await nonce in try await postgres.query(
            "SELECT max(nonce) FROM exchange_wallet.withdrawals WHERE asset = \(asset)", logger: logger
        ).decode(Int64?.self) { return nonce.map(UInt64.init) }
        return nil
    }

    /// A fenced transition of a withdrawal the wallet works on (completion queues the clearing
    /// `completeWithdrawal`; a failure the release).
    @discardableResult
    public func transition(_ id: Int64, fence: WalletFence, _ transition: @Sendable (inout WithdrawalRecord) throws -> Bool) async throws -> WithdrawalRecord {
        try await fenced(fence) { connection in
            let before = try await Self.withdrawals(try await connection.query(
                "SELECT \(unescaped: Self.withdrawalColumns) FROM exchange_wallet.withdrawals WHERE withdrawal_id = \(id)", logger: logger)).first?.record
            let after = try await Self.transition(id, on: connection, logger: logger, transition)
            if before?.state != .completed, after.state == .completed {
                try await Self.enqueue(.complete, reference: id, user: Int64(after.user), asset: after.asset, amount: after.frozenAmount, on: connection, logger: logger)
            }
            return after
        }
    }

    /// What the wallet's gauges show: open adjustment cases, clearing commands not yet settled,
    /// and whether withdrawals of `asset` are paused.
    public func health(asset: String) async throws -> (openCases: Int, outboxBacklog: Int, paused: Bool) {
        for try await (cases, backlog, paused) in try await postgres.query("""
            SELECT (SELECT count(*) FROM exchange_wallet.cases WHERE resolved_at IS NULL),
              (SELECT count(*) FROM exchange_wallet.outbox WHERE state IN ('QUEUED', 'SENT')),
              coalesce((SELECT paused_reason IS NOT NULL FROM exchange_wallet.assets WHERE asset = \(asset)), false)
            """, logger: logger).decode((Int64, Int64, Bool).self) { return (Int(cases), Int(backlog), paused) }
        return (0, 0, false)
    }
}
