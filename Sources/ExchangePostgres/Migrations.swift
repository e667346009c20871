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
