import ExchangeChain
import ExchangePostgres
import ExchangeWallet
import Foundation
import Logging
import PostgresNIO

/// Why a wallet request was refused; each names what to do. Nothing was stored or frozen.
public enum WalletRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownAsset(String)
    case malformedAddress(String)
    case refused(WithdrawalRefusal)
    case paused(String)

    public var description: String {
        switch self {
        case .unknownAsset(let asset): "the wallet does not serve \(asset)"
        case .malformedAddress(let why): why
        case .refused(let refusal): refusal.description
        case .paused(let why): "withdrawals of this asset are paused: \(why)"
        }
    }
}

/// A deposit as its owner and staff see it.
public struct DepositView: Sendable, Equatable {
    public var id: Int64
    public var asset: String
    public var chain: String
    public var address: String
    public var transactionHash: String
    public var outputIndex: Int
    /// Chain base units (text: up to 2^128) and the clearing units credited.
    public var amount: String
    public var units: Int64
    public var state: String
    public var blockNumber: Int64
    public var orphaned: Bool
    public var insertedMilliseconds: Int64
}

/// A withdrawal as its owner and staff see it.
public struct WithdrawalView: Sendable, Equatable {
    public var record: WithdrawalRecord
    public var clientID: String?
    public var createdMilliseconds: Int64
    public var updatedMilliseconds: Int64
    /// True while the wallet still owes clearing the withdrawal's `completeWithdrawal` (queued
    /// or sent, not yet settled): COMPLETED on chain, the amount still locked.
    public var completionPending: Bool
}

/// The wallet's tables (`exchange_wallet`, migration 9) for what the gateway and admin do:
/// assets, deposit addresses, whitelists, deposits, withdrawal requests and approvals. The
/// wallet role's own work is in `WalletStore+Role.swift`.
public struct WalletStore: Sendable {
    /// The failure of a withdrawal clearing could not freeze: Binance's wording, which the
    /// gateway answers with -2010 (clients map it to insufficient funds).
    public static let insufficientBalance = "Account has insufficient balance for requested action."
    public let postgres: PostgresClient
    public let logger: Logger

    public init(postgres: PostgresClient, logger: Logger) {
        self.postgres = postgres
        self.logger = logger
    }

    // MARK: Assets

    /// Stores (or replaces) an asset's configuration; a pause reason stays as it was.
    public func save(_ asset: WalletAsset) async throws {
        let policy = asset.policy
        try await postgres.query("""
            INSERT INTO exchange_wallet.assets (asset, chain, asset_index, xpub, confirmations, base_units_per_unit, minimum, fee, automatic_below,
              two_approvals_from, daily_limit, whitelist_cooling_ms, hot_address, hot_floor)
            VALUES (\(asset.asset), \(asset.chain), \(Int32(asset.assetIndex)), \(asset.xpub), \(Int32(asset.confirmations)),
              \(String(asset.baseUnitsPerUnit))::numeric, \(policy.minimum), \(policy.fee), \(policy.automaticBelow), \(policy.twoApprovalsFrom),
              \(policy.dailyLimit), \(policy.whitelistCoolingMilliseconds), \(asset.hotAddress), \(String(asset.hotFloor))::numeric)
            ON CONFLICT (asset) DO UPDATE SET chain = EXCLUDED.chain, asset_index = EXCLUDED.asset_index, xpub = EXCLUDED.xpub,
              confirmations = EXCLUDED.confirmations, base_units_per_unit = EXCLUDED.base_units_per_unit, minimum = EXCLUDED.minimum,
              fee = EXCLUDED.fee, automatic_below = EXCLUDED.automatic_below, two_approvals_from = EXCLUDED.two_approvals_from,
              daily_limit = EXCLUDED.daily_limit, whitelist_cooling_ms = EXCLUDED.whitelist_cooling_ms, hot_address = EXCLUDED.hot_address,
              hot_floor = EXCLUDED.hot_floor, updated_at = now()
            """, logger: logger)
    }

    public func assets() async throws -> [WalletAsset] {
        var assets: [WalletAsset] = []
        for try await row in try await postgres.query("""
            SELECT asset, chain, asset_index, xpub, confirmations, base_units_per_unit::text, minimum, fee, automatic_below, two_approvals_from,
              daily_limit, whitelist_cooling_ms, hot_address, hot_floor::text, paused_reason
            FROM exchange_wallet.assets ORDER BY asset
            """, logger: logger).decode((String, String, Int32, String, Int32, String, Int64, Int64, Int64, Int64, Int64, Int64, String, String, String?).self) {
            let (asset, chain, index, xpub, confirmations, perUnit, minimum, fee, automatic, two, daily, cooling, hot, floor, paused) = row
            guard let perUnit = UInt128(perUnit), let floor = UInt128(floor) else { throw WalletStoreError.corrupt("asset \(asset)") }
            assets.append(WalletAsset(
                asset: asset, chain: chain, assetIndex: UInt32(index), xpub: xpub, confirmations: UInt64(confirmations), baseUnitsPerUnit: perUnit,
                policy: WithdrawalPolicy(
                    minimum: minimum, fee: fee, automaticBelow: automatic, twoApprovalsFrom: two, dailyLimit: daily, whitelistCoolingMilliseconds: cooling),
                hotAddress: hot, hotFloor: floor, pausedReason: paused))
        }
        return assets
    }

    public func asset(_ code: String) async throws -> WalletAsset? { try await assets().first { $0.asset == code } }

    public func setPaused(_ code: String, reason: String?) async throws {
        try await postgres.query("UPDATE exchange_wallet.assets SET paused_reason = \(reason) WHERE asset = \(code)", logger: logger)
    }

    // MARK: Deposit addresses

    /// `user`'s deposit address for `code`, derived and stored on first request (the watcher
    /// follows every stored address).
    public func depositAddress(user: Int64, asset code: String) async throws(WalletRequestError) -> String {
        do {
            guard let asset = try await asset(code) else { throw WalletRequestError.unknownAsset(code) }
            let address = try asset.depositAddress(of: UInt64(user))
            try await postgres.query("""
                INSERT INTO exchange_wallet.addresses (user_id, asset, chain, address) VALUES (\(user), \(code), \(asset.chain), \(address))
                ON CONFLICT (user_id, asset) DO NOTHING
                """, logger: logger)
            return address
        } catch let error as WalletRequestError {
            throw error
        } catch {
            throw .malformedAddress("no deposit address: \(error)")
        }
    }

    // MARK: Whitelist

    /// Adds `address` to `user`'s whitelist for `asset`; it can receive once the asset's
    /// cooling period is over. Returns false if it was there already (its clock unchanged).
    public func whitelist(user: Int64, asset code: String, address text: String, label: String) async throws(WalletRequestError) -> Bool {
        let address = try Self.parseAddress(text)
        do {
            guard try await asset(code) != nil else { throw WalletRequestError.unknownAsset(code) }
            for try await _ in try await postgres.query("""
                INSERT INTO exchange_wallet.whitelist (user_id, asset, address, label) VALUES (\(user), \(code), \(address), \(label))
                ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger) { return true }
            return false
        } catch let error as WalletRequestError {
            throw error
        } catch {
            throw .malformedAddress("the whitelist could not be stored: \(error)")
        }
    }

    public func removeWhitelisted(user: Int64, asset: String, address: String) async throws -> Bool {
        for try await _ in try await postgres.query("""
            DELETE FROM exchange_wallet.whitelist WHERE user_id = \(user) AND asset = \(asset) AND address = \(address.lowercased()) RETURNING 1
            """, logger: logger) { return true }
        return false
    }

    /// `user`'s whitelist entries: (asset, address, label, added ms).
    public func whitelist(user: Int64) async throws -> [(asset: String, entry: WhitelistedAddress, label: String)] {
        var entries: [(String, WhitelistedAddress, String)] = []
        for try await (asset, address, label, added) in try await postgres.query("""
            SELECT asset, address, label, (extract(epoch FROM added_at) * 1000)::bigint FROM exchange_wallet.whitelist
            WHERE user_id = \(user) ORDER BY added_at
            """, logger: logger).decode((String, String, String, Int64).self) {
            entries.append((asset, WhitelistedAddress(address: address, addedAtMilliseconds: added), label))
        }
        return entries
    }

    /// An Ethereum address in lower-case hex, the EIP-55 checksum checked when mixed case.
    public static func parseAddress(_ text: String) throws(WalletRequestError) -> String {
        do { return try EthereumAddress(parsing: text).description.lowercased() } catch { throw .malformedAddress("\(error)") }
    }

    // MARK: Deposits

    /// `user`'s deposits, newest first, optionally of one asset, in [from, to) ms.
    public func deposits(user: Int64, asset: String?, fromMilliseconds: Int64?, toMilliseconds: Int64?, offset: Int, limit: Int) async throws -> [DepositView] {
        var deposits: [DepositView] = []
        for try await row in try await postgres.query("""
            SELECT deposit_id, asset, chain, address, tx_hash, output_index, amount::text, units, state, block_number, orphaned,
              (extract(epoch FROM created_at) * 1000)::bigint
            FROM exchange_wallet.deposits
            WHERE user_id = \(user) AND (\(asset)::text IS NULL OR asset = \(asset))
              AND (\(fromMilliseconds)::bigint IS NULL OR created_at >= to_timestamp(\(fromMilliseconds) / 1000.0))
              AND (\(toMilliseconds)::bigint IS NULL OR created_at < to_timestamp(\(toMilliseconds) / 1000.0))
            ORDER BY deposit_id DESC OFFSET \(offset) LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, String, String, Int32, String, Int64, String, Int64, Bool, Int64).self) {
            deposits.append(DepositView(
                id: row.0, asset: row.1, chain: row.2, address: row.3, transactionHash: row.4, outputIndex: Int(row.5), amount: row.6, units: row.7,
                state: row.8, blockNumber: row.9, orphaned: row.10, insertedMilliseconds: row.11))
        }
        return deposits
    }

    // MARK: Withdrawals

    static let withdrawalColumns = """
        withdrawal_id, user_id, asset, amount, fee, address, approvals_needed, approved_by, state, signed_tx, nonce, tx_hash, broadcasts,
        block_number, failure, holds_funds, client_id, (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint,
        EXISTS (SELECT 1 FROM exchange_wallet.outbox o WHERE o.state IN ('QUEUED', 'SENT') AND o.kind = 'COMPLETE' AND o.reference = withdrawals.withdrawal_id)
        """

    static func withdrawals(_ rows: PostgresRowSequence) async throws -> [WithdrawalView] {
        var views: [WithdrawalView] = []
        for try await row in rows.decode(
            (Int64, Int64, String, Int64, Int64, String, Int32, [String], String, PostgresByteA?, Int64?, String?, Int32, Int64?, String?, Bool, String?, Int64,
             Int64, Bool).self)
        {
            guard let state = WithdrawalState(rawValue: row.8) else { throw WalletStoreError.corrupt("withdrawal \(row.0) state \(row.8)") }
            let record = WithdrawalRecord(
                restoring: UInt64(row.0), user: UInt64(row.1), asset: row.2, amount: row.3, fee: row.4, address: row.5, approvalsNeeded: Int(row.6),
                approvedBy: row.7, state: state, signedTransaction: row.9?.bytes, nonce: row.10.map(UInt64.init), transactionHash: row.11,
                broadcasts: Int(row.12), blockNumber: row.13.map(UInt64.init), failure: row.14, holdsFunds: row.15)
            views.append(WithdrawalView(record: record, clientID: row.16, createdMilliseconds: row.17, updatedMilliseconds: row.18, completionPending: row.19))
        }
        return views
    }

    /// Checks a withdrawal request (asset, address, policy, whitelist, 24-hour total) and
    /// stores it HOLDING with the clearing hold it needs queued, in one transaction, so it is
    /// either wholly asked for or not at all. A repeated `clientID` returns the first
    /// request's id. Requests of one user and asset are serialised, so two cannot both fit
    /// under the daily limit that only one fits.
    public func requestWithdrawal(
        user: Int64, asset code: String, amount: Int64, address text: String, clientID: String?, nowMilliseconds: Int64
    ) async throws -> Int64 {
        let address = try Self.parseAddress(text)
        guard let asset = try await asset(code) else { throw WalletRequestError.unknownAsset(code) }
        if let reason = asset.pausedReason { throw WalletRequestError.paused(reason) }
        do {
            return try await storeRequest(
                user: user, asset: asset, amount: amount, address: address, clientID: clientID, nowMilliseconds: nowMilliseconds)
        } catch {
            throw WalletStoreError.underlying(error)  // a refusal, not PostgresNIO's wrapper of it
        }
    }

    func storeRequest(user: Int64, asset: WalletAsset, amount: Int64, address: String, clientID: String?, nowMilliseconds: Int64) async throws -> Int64 {
        let code = asset.asset
        return try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.userLock(user)), hashtext(\(code)))", logger: logger)
            if let clientID {
                for try await id in try await connection.query("""
                    SELECT withdrawal_id FROM exchange_wallet.withdrawals WHERE user_id = \(user) AND client_id = \(clientID)
                    """, logger: logger).decode(Int64.self) { return id }
            }
            var whitelist: [WhitelistedAddress] = []
            for try await (entry, added) in try await connection.query("""
                SELECT address, (extract(epoch FROM added_at) * 1000)::bigint FROM exchange_wallet.whitelist WHERE user_id = \(user) AND asset = \(code)
                """, logger: logger).decode((String, Int64).self) { whitelist.append(WhitelistedAddress(address: entry, addedAtMilliseconds: added)) }
            var recent: Int64 = 0
            for try await total in try await connection.query("""
                SELECT coalesce(sum(amount), 0)::bigint FROM exchange_wallet.withdrawals
                WHERE user_id = \(user) AND asset = \(code) AND state <> 'FAILED' AND created_at > to_timestamp(\(nowMilliseconds - 86_400_000) / 1000.0)
                """, logger: logger).decode(Int64.self) { recent = total }
            var id: Int64 = 0
            for try await next in try await connection.query("SELECT nextval('exchange_wallet.withdrawals_withdrawal_id_seq')", logger: logger).decode(Int64.self) { id = next }
            let record: WithdrawalRecord
            do {
                record = try WithdrawalRecord(
                    id: UInt64(id), user: UInt64(user), asset: code, amount: amount, address: address, policy: asset.policy, whitelist: whitelist,
                    recentTotal: recent, nowMilliseconds: nowMilliseconds)
            } catch let refusal as WithdrawalRefusal {
                throw WalletRequestError.refused(refusal)
            }
            try await connection.query("""
                INSERT INTO exchange_wallet.withdrawals (withdrawal_id, user_id, client_id, asset, address, amount, fee, approvals_needed, state)
                VALUES (\(id), \(user), \(clientID), \(code), \(address), \(amount), \(record.fee), \(Int32(record.approvalsNeeded)), \(record.state.rawValue))
                """, logger: logger)
            try await Self.enqueue(.hold, reference: id, user: user, asset: code, amount: record.frozenAmount, on: connection, logger: logger)
            return id
        }
    }

    /// One user's lock key for serialising their requests.
    static func userLock(_ user: Int64) -> Int32 { Int32(truncatingIfNeeded: user ^ (user >> 32)) }

    /// Waits until withdrawal `id` leaves HOLDING (clearing froze it or could not), up to `timeout`.
    public func settledWithdrawal(_ id: Int64, timeout: Duration) async throws -> WithdrawalView? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let view = try await withdrawal(id)
            if view?.record.state != .holding || ContinuousClock.now >= deadline { return view }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public func withdrawal(_ id: Int64) async throws -> WithdrawalView? {
        try await Self.withdrawals(try await postgres.query(
            "SELECT \(unescaped: Self.withdrawalColumns) FROM exchange_wallet.withdrawals WHERE withdrawal_id = \(id)", logger: logger)).first
    }

    /// Withdrawals, newest first: one user's (or everyone's with nil), optionally of one asset,
    /// one client id, states, in [from, to) ms.
    public func withdrawals(
        user: Int64?, asset: String? = nil, clientID: String? = nil, states: [String]? = nil, fromMilliseconds: Int64? = nil, toMilliseconds: Int64? = nil,
        offset: Int = 0, limit: Int = 1000
    ) async throws -> [WithdrawalView] {
        try await Self.withdrawals(try await postgres.query("""
            SELECT \(unescaped: Self.withdrawalColumns) FROM exchange_wallet.withdrawals
            WHERE (\(user)::bigint IS NULL OR user_id = \(user)) AND (\(asset)::text IS NULL OR asset = \(asset))
              AND (\(clientID)::text IS NULL OR client_id = \(clientID)) AND (\(states)::text[] IS NULL OR state = ANY(\(states)))
              AND (\(fromMilliseconds)::bigint IS NULL OR created_at >= to_timestamp(\(fromMilliseconds) / 1000.0))
              AND (\(toMilliseconds)::bigint IS NULL OR created_at < to_timestamp(\(toMilliseconds) / 1000.0))
            ORDER BY withdrawal_id DESC OFFSET \(offset) LIMIT \(limit)
            """, logger: logger))
    }

    /// Applies `transition` to withdrawal `id` under a row lock and stores the result; queues
    /// a release of the freeze when it says so. Returns the record after it.
    @discardableResult
    public func transition(
        _ id: Int64, _ transition: @Sendable (inout WithdrawalRecord) throws -> Bool
    ) async throws -> WithdrawalRecord {
        try await postgres.withTransaction(logger: logger) { connection in
            try await Self.transition(id, on: connection, logger: logger, transition)
        }
    }

    static func transition(
        _ id: Int64, on connection: PostgresConnection, logger: Logger, _ transition: (inout WithdrawalRecord) throws -> Bool
    ) async throws -> WithdrawalRecord {
        guard var record = try await withdrawals(try await connection.query(
            "SELECT \(unescaped: withdrawalColumns) FROM exchange_wallet.withdrawals WHERE withdrawal_id = \(id) FOR UPDATE", logger: logger)).first?.record
        else { throw WalletStoreError.unknownWithdrawal(id) }
        let release = try transition(&record)
        try await store(record, on: connection, logger: logger)
        if release {
            try await enqueue(.release, reference: id, user: Int64(record.user), asset: record.asset, amount: record.frozenAmount, on: connection, logger: logger)
        }
        return record
    }

    static func store(_ record: WithdrawalRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE exchange_wallet.withdrawals SET approved_by = \(record.approvedBy), state = \(record.state.rawValue),
              signed_tx = \(record.signedTransaction.map { PostgresByteA(bytes: $0) }), nonce = \(record.nonce.map { Int64($0) }),
              tx_hash = \(record.transactionHash), broadcasts = \(Int32(record.broadcasts)), block_number = \(record.blockNumber.map { Int64($0) }),
              failure = \(record.failure), holds_funds = \(record.holdsFunds), updated_at = now()
            WHERE withdrawal_id = \(Int64(record.id))
            """, logger: logger)
    }

    // MARK: Outbox

    /// What the wallet owes clearing.
    public enum OutboxKind: String, Sendable {
        case deposit = "DEPOSIT", hold = "HOLD", complete = "COMPLETE", release = "RELEASE"
    }

    static func enqueue(_ kind: OutboxKind, reference: Int64, user: Int64, asset: String, amount: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO exchange_wallet.outbox (kind, reference, user_id, asset, amount) VALUES (\(kind.rawValue), \(reference), \(user), \(asset), \(amount))
            """, logger: logger)
    }

    // MARK: Cases

    /// Open adjustment cases: (case id, deposit id, detail, opened ms).
    public func openCases() async throws -> [(id: Int64, deposit: Int64, detail: String, openedMilliseconds: Int64)] {
        var cases: [(Int64, Int64, String, Int64)] = []
        for try await row in try await postgres.query("""
            SELECT case_id, deposit_id, detail, (extract(epoch FROM opened_at) * 1000)::bigint FROM exchange_wallet.cases
            WHERE resolved_at IS NULL ORDER BY case_id
            """, logger: logger).decode((Int64, Int64, String, Int64).self) { cases.append(row) }
        return cases
    }

    public func resolveCase(_ id: Int64, by staff: String, resolution: String) async throws -> Bool {
        for try await _ in try await postgres.query("""
            UPDATE exchange_wallet.cases SET resolved_by = \(staff), resolution = \(resolution), resolved_at = now()
            WHERE case_id = \(id) AND resolved_at IS NULL RETURNING 1
            """, logger: logger) { return true }
        return false
    }
}

public enum WalletStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The error inside a failed transaction (PostgresNIO wraps what its closure threw).
    public static func underlying(_ error: any Error) -> any Error {
        (error as? PostgresTransactionError)?.closureError ?? error
    }

    case corrupt(String)
    case unknownWithdrawal(Int64)
    /// The wallet role lost its lease: another instance is active.
    case fenced

    public var description: String {
        switch self {
        case .corrupt(let what): "the wallet's tables hold an unreadable \(what)"
        case .unknownWithdrawal(let id): "no withdrawal \(id)"
        case .fenced: "this wallet instance lost its lease; another one is active"
        }
    }
}
