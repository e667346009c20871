import Logging
import PostgresNIO

/// The database's schema, as versioned migrations: each runs once, in its own transaction,
/// recorded in `exchange_admin.schema_migrations`; `migrate` applies the missing ones in order
/// under an advisory lock, so concurrent runs are safe and a second run changes nothing.
/// One schema per area (`exchange_user`, `exchange_order`, `exchange_clearing`,
/// `exchange_wallet`, `exchange_admin`).
public enum Migrations {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var statements: [String]
    }

    /// Never edit a released migration: add one.
    public static let all: [Migration] = [
        Migration(version: 1, name: "schemas per area", statements: [
            "CREATE SCHEMA IF NOT EXISTS exchange_user",
            "CREATE SCHEMA IF NOT EXISTS exchange_order",
            "CREATE SCHEMA IF NOT EXISTS exchange_clearing",
            "CREATE SCHEMA IF NOT EXISTS exchange_wallet",
        ]),
        Migration(version: 2, name: "order history", statements: [
            """
            CREATE TABLE exchange_order.orders (
              order_id bigint PRIMARY KEY, user_id bigint NOT NULL, symbol text NOT NULL, shard integer NOT NULL,
              side text NOT NULL, type text NOT NULL, time_in_force text NOT NULL,
              price_ticks bigint NOT NULL, quantity_lots bigint NOT NULL,
              status text NOT NULL, remaining_lots bigint NOT NULL,
              accepted_position bigint NOT NULL, updated_position bigint NOT NULL)
            """,
            "CREATE INDEX orders_by_user ON exchange_order.orders (user_id, order_id)",
            """
            CREATE TABLE exchange_order.order_events (
              shard integer NOT NULL, position bigint NOT NULL, seq integer NOT NULL,
              order_id bigint NOT NULL, status text NOT NULL, remaining_lots bigint NOT NULL,
              PRIMARY KEY (shard, position, seq))
            """,
            """
            CREATE TABLE exchange_order.trades (
              symbol text NOT NULL, trade_id bigint NOT NULL, shard integer NOT NULL, position bigint NOT NULL,
              price_ticks bigint NOT NULL, quantity_lots bigint NOT NULL, taker_side text NOT NULL,
              taker_order_id bigint NOT NULL, taker_user_id bigint NOT NULL,
              maker_order_id bigint NOT NULL, maker_user_id bigint NOT NULL,
              PRIMARY KEY (symbol, trade_id))
            """,
        ]),
        Migration(version: 3, name: "ledger and balances", statements: [
            """
            CREATE TABLE exchange_clearing.ledger_transactions (
              partition integer NOT NULL, id bigint NOT NULL, kind text NOT NULL,
              producer text NOT NULL, position bigint NOT NULL, command_index integer NOT NULL, memo text NOT NULL,
              PRIMARY KEY (partition, id))
            """,
            """
            CREATE TABLE exchange_clearing.ledger_entries (
              partition integer NOT NULL, transaction_id bigint NOT NULL, seq integer NOT NULL,
              account text NOT NULL, user_id bigint, asset text NOT NULL, amount bigint NOT NULL,
              PRIMARY KEY (partition, transaction_id, seq))
            """,
            """
            CREATE TABLE exchange_clearing.balances (
              user_id bigint NOT NULL, asset text NOT NULL, available bigint NOT NULL, frozen bigint NOT NULL,
              PRIMARY KEY (user_id, asset))
            """,
            """
            CREATE TABLE exchange_clearing.system_balances (
              partition integer NOT NULL, account text NOT NULL, asset text NOT NULL, amount bigint NOT NULL,
              PRIMARY KEY (partition, account, asset))
            """,
        ]),
        Migration(version: 4, name: "recorder positions", statements: [
            """
            CREATE TABLE exchange_admin.stream_positions (
              stream text PRIMARY KEY, last_id text NOT NULL, position bigint NOT NULL)
            """,
        ]),
        Migration(version: 5, name: "users, sessions, login history, API keys", statements: [
            // User ids start high so they never meet the small ids of order-flow files.
            "CREATE SEQUENCE exchange_user.user_ids START WITH 1000000",
            """
            CREATE TABLE exchange_user.users (
              user_id bigint PRIMARY KEY DEFAULT nextval('exchange_user.user_ids'), email text NOT NULL UNIQUE,
              password_hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
              failed_logins integer NOT NULL DEFAULT 0, locked_until timestamptz)
            """,
            """
            CREATE TABLE exchange_user.refresh_tokens (
              token_hash text PRIMARY KEY, user_id bigint NOT NULL REFERENCES exchange_user.users,
              created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL, revoked_at timestamptz)
            """,
            "CREATE INDEX refresh_tokens_by_user ON exchange_user.refresh_tokens (user_id)",
            """
            CREATE TABLE exchange_user.login_history (
              id bigserial PRIMARY KEY, user_id bigint, email text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
              ip text NOT NULL, user_agent text NOT NULL, success boolean NOT NULL, reason text NOT NULL)
            """,
            "CREATE INDEX login_history_by_user ON exchange_user.login_history (user_id, id)",
            """
            CREATE TABLE exchange_user.api_keys (
              api_key text PRIMARY KEY, user_id bigint NOT NULL REFERENCES exchange_user.users, label text NOT NULL,
              permissions integer NOT NULL, ip_whitelist text[] NOT NULL, sealed_secret bytea NOT NULL,
              enabled boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX api_keys_by_user ON exchange_user.api_keys (user_id)",
        ]),
        Migration(version: 6, name: "trade times", statements: [
            // When a trade became visible (its output entry's append time, ms since the Unix
            // epoch): klines from history. Trades recorded before this migration read 0.
            "ALTER TABLE exchange_order.trades ADD COLUMN time_ms bigint NOT NULL DEFAULT 0",
            "CREATE INDEX trades_by_time ON exchange_order.trades (symbol, time_ms)",
        ]),
        Migration(version: 7, name: "audit log", statements: [
            // Append-only and hash-chained (`AuditLogStore`, `AuditChain`): the trigger refuses
            // UPDATE, DELETE and TRUNCATE to everyone, the owner included; the chain shows what
            // someone who could disable the trigger changed.
            """
            CREATE TABLE exchange_admin.audit_log (
              id bigint PRIMARY KEY, at_us bigint NOT NULL, actor_kind text NOT NULL, actor text NOT NULL, action text NOT NULL,
              target text NOT NULL, ip text NOT NULL, before_json text NOT NULL, after_json text NOT NULL,
              previous_hash bytea NOT NULL, hash bytea NOT NULL)
            """,
            "CREATE INDEX audit_log_by_actor ON exchange_admin.audit_log (actor, id)",
            "CREATE INDEX audit_log_by_action ON exchange_admin.audit_log (action, id)",
            """
            CREATE FUNCTION exchange_admin.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'exchange_admin.audit_log is append-only'; END $$
            """,
            """
            CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON exchange_admin.audit_log
              FOR EACH ROW EXECUTE FUNCTION exchange_admin.audit_log_is_append_only()
            """,
            """
            CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON exchange_admin.audit_log
              FOR EACH STATEMENT EXECUTE FUNCTION exchange_admin.audit_log_is_append_only()
            """,
            "REVOKE UPDATE, DELETE, TRUNCATE ON exchange_admin.audit_log FROM PUBLIC",
        ]),
        Migration(version: 8, name: "staff accounts, second factors, frozen users", statements: [
            // Staff are not traders: their own table, roles from `StaffRole`. A session is valid
            // only if issued at or after `sessions_after` (seconds since the Unix epoch), so a
            // force logout, a role change or a disable ends every session at once. TOTP secrets
            // are sealed with the master key, like API secrets; `totp_last_step` is the step of the last
            // code accepted, so a code is good once.
            """
            CREATE TABLE exchange_admin.staff (
              staff_id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text NOT NULL, role text NOT NULL,
              totp_secret bytea, totp_enabled boolean NOT NULL DEFAULT false, totp_last_step bigint NOT NULL DEFAULT 0,
              disabled boolean NOT NULL DEFAULT false, failed_logins integer NOT NULL DEFAULT 0, locked_until timestamptz, sessions_after bigint NOT NULL DEFAULT 0,
              created_at timestamptz NOT NULL DEFAULT now())
            """,
            // `frozen`: locked by staff (login, sessions and API keys refused) until unlocked;
            // `locked_until` stays the automatic lockout after failed logins.
            """
            ALTER TABLE exchange_user.users ADD COLUMN frozen boolean NOT NULL DEFAULT false,
              ADD COLUMN totp_secret bytea, ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false,
              ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0, ADD COLUMN sessions_after bigint NOT NULL DEFAULT 0
            """,
            "CREATE INDEX orders_open_by_symbol ON exchange_order.orders (symbol) WHERE status IN ('NEW', 'PARTIALLY_FILLED')",
        ]),
        Migration(version: 9, name: "wallet", statements: [
            "CREATE SCHEMA IF NOT EXISTS exchange_wallet",
            // One row per asset the wallet serves: its chain, where its deposit addresses derive
            // from (m/asset_index/user of the xpub), confirmations, withdrawal policy (clearing
            // units), the hot wallet and its floor (chain base units, as text: up to 2^128).
            """
            CREATE TABLE exchange_wallet.assets (
              asset text PRIMARY KEY, chain text NOT NULL, asset_index integer NOT NULL, xpub text NOT NULL, confirmations integer NOT NULL,
              base_units_per_unit numeric(39,0) NOT NULL, minimum bigint NOT NULL, fee bigint NOT NULL, automatic_below bigint NOT NULL,
              two_approvals_from bigint NOT NULL, daily_limit bigint NOT NULL, whitelist_cooling_ms bigint NOT NULL,
              hot_address text NOT NULL, hot_floor numeric(39,0) NOT NULL, paused_reason text, updated_at timestamptz NOT NULL DEFAULT now())
            """,
            """
            CREATE TABLE exchange_wallet.addresses (
              user_id bigint NOT NULL, asset text NOT NULL, chain text NOT NULL, address text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (user_id, asset), UNIQUE (chain, address))
            """,
            // The watcher's progress and the hashes of the blocks it keeps (to see reorgs), written
            // in the same transaction as the deposits of each block.
            "CREATE TABLE exchange_wallet.watchers (chain text PRIMARY KEY, applied_through bigint)",
            "CREATE TABLE exchange_wallet.blocks (chain text NOT NULL, number bigint NOT NULL, hash text NOT NULL, PRIMARY KEY (chain, number))",
            """
            CREATE TABLE exchange_wallet.deposits (
              deposit_id bigserial PRIMARY KEY, chain text NOT NULL, tx_hash text NOT NULL, output_index integer NOT NULL,
              user_id bigint NOT NULL, asset text NOT NULL, address text NOT NULL, amount numeric(39,0) NOT NULL, units bigint NOT NULL,
              state text NOT NULL, block_number bigint NOT NULL, block_hash text NOT NULL, orphaned boolean NOT NULL DEFAULT false,
              created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
              UNIQUE (chain, tx_hash, output_index))
            """,
            "CREATE INDEX deposits_by_user ON exchange_wallet.deposits (user_id, created_at)",
            """
            CREATE TABLE exchange_wallet.whitelist (
              user_id bigint NOT NULL, asset text NOT NULL, address text NOT NULL, label text NOT NULL DEFAULT '',
              added_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, asset, address))
            """,
            """
            CREATE TABLE exchange_wallet.withdrawals (
              withdrawal_id bigserial PRIMARY KEY, user_id bigint NOT NULL, client_id text, asset text NOT NULL, address text NOT NULL,
              amount bigint NOT NULL, fee bigint NOT NULL, approvals_needed integer NOT NULL, approved_by text[] NOT NULL DEFAULT '{}',
              state text NOT NULL, signed_tx bytea, nonce bigint, tx_hash text, broadcasts integer NOT NULL DEFAULT 0, block_number bigint,
              failure text, holds_funds boolean NOT NULL DEFAULT false,
              created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), UNIQUE (user_id, client_id))
            """,
            "CREATE INDEX withdrawals_open ON exchange_wallet.withdrawals (state) WHERE state NOT IN ('COMPLETED', 'FAILED')",
            "CREATE INDEX withdrawals_by_user ON exchange_wallet.withdrawals (user_id, created_at)",
            // Clearing commands the wallet owes, in the order it sends them: each gets its
            // position (one counter, so increasing in every partition) when it is first sent,
            // and keeps it, so a resend after a crash is a repeat clearing drops.
            """
            CREATE TABLE exchange_wallet.outbox (
              outbox_id bigserial PRIMARY KEY, kind text NOT NULL, reference bigint NOT NULL, user_id bigint NOT NULL, asset text NOT NULL,
              amount bigint NOT NULL, position bigint UNIQUE, state text NOT NULL DEFAULT 'QUEUED', result text,
              created_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX outbox_unsettled ON exchange_wallet.outbox (outbox_id) WHERE state IN ('QUEUED', 'SENT')",
            "CREATE SEQUENCE exchange_wallet.positions",
            // Deposits a reorganisation removed after they were credited: staff settle each.
            """
            CREATE TABLE exchange_wallet.cases (
              case_id bigserial PRIMARY KEY, deposit_id bigint NOT NULL REFERENCES exchange_wallet.deposits, detail text NOT NULL,
              opened_at timestamptz NOT NULL DEFAULT now(), resolved_by text, resolution text, resolved_at timestamptz)
            """,
            // The active wallet's lease: every write of the wallet role checks it in its
            // transaction, so a wallet that lost it (a paused or cut-off host) writes nothing.
            "CREATE TABLE exchange_wallet.lease (name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)",
        ]),
    ]

    /// Applies the missing migrations; returns the versions it applied.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger = Logger(label: "exchange.migrate")) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("CREATE SCHEMA IF NOT EXISTS exchange_admin", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS exchange_admin.schema_migrations (
                  version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
        }
        var applied: [Int] = []
        for migration in all {
            let ran = try await client.withTransaction(logger: logger) { connection -> Bool in
                // One migrator at a time; the lock ends with the transaction.
                try await connection.query("SELECT pg_advisory_xact_lock(7316)", logger: logger)
                let rows = try await connection.query(
                    "SELECT 1 FROM exchange_admin.schema_migrations WHERE version = \(migration.version)", logger: logger)
                for try await _ in rows { return false }
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO exchange_admin.schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                return true
            }
            if ran { applied.append(migration.version) }
        }
        return applied
    }

    /// The versions recorded as applied, ascending.
    public static func appliedVersions(_ client: PostgresClient, logger: Logger = Logger(label: "exchange.migrate")) async throws -> [Int] {
        var versions: [Int] = []
        for try await version in try await client.query("SELECT version FROM exchange_admin.schema_migrations ORDER BY version", logger: logger)
            .decode(Int.self) {
            versions.append(version)
        }
        return versions
    }
}
