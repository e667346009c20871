import ExchangeAccess
import Logging
import PostgresNIO

/// The TOTP second factors of one kind of account, traders (`exchange_user.users`) or staff
/// (`exchange_admin.staff`), in their account rows: the secret sealed with the master key
/// (bound to the account), enabled only once a first code confirms it, and the step of the
/// last code accepted (`totp_last_step`), so each code is good once.
public struct SecondFactors: Sendable {
    public enum Accounts: Sendable {
        case users, staff

        var table: String { self == .users ? "exchange_user.users" : "exchange_admin.staff" }
        var idColumn: String { self == .users ? "user_id" : "staff_id" }
        func binding(_ id: Int64) -> String { "totp:\(self == .users ? "user" : "staff"):\(id)" }
    }

    let postgres: PostgresClient
    let secrets: SecretBox
    let accounts: Accounts
    let logger: Logger

    public init(postgres: PostgresClient, secrets: SecretBox, accounts: Accounts, logger: Logger) {
        self.postgres = postgres
        self.secrets = secrets
        self.accounts = accounts
        self.logger = logger
    }

    /// A new secret for account `id`, stored sealed and not enabled; nil when one is enabled
    /// already (or there is no such account).
    public func begin(_ id: Int64) async throws -> [UInt8]? {
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<TOTP.secretBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let sealed = PostgresByteA(bytes: try secrets.seal(secret, boundTo: accounts.binding(id)))
        for try await _ in try await postgres.query("""
            UPDATE \(unescaped: accounts.table) SET totp_secret = \(sealed) WHERE \(unescaped: accounts.idColumn) = \(id) AND NOT totp_enabled RETURNING 1
            """, logger: logger) { return secret }
        return nil
    }

    /// Enables the secret `begin` made if `code` is right at `nowSeconds`.
    public func confirm(_ id: Int64, code: String, nowSeconds: Int64) async throws -> Bool {
        var sealed: PostgresByteA?
        for try await row in try await postgres.query("""
            SELECT totp_secret FROM \(unescaped: accounts.table)
            WHERE \(unescaped: accounts.idColumn) = \(id) AND NOT totp_enabled AND totp_secret IS NOT NULL
            """, logger: logger).decode(PostgresByteA.self) { sealed = row }
        guard let sealed, try await verify(id, sealed: sealed.bytes, code: code, nowSeconds: nowSeconds) else { return false }
        try await postgres.query("UPDATE \(unescaped: accounts.table) SET totp_enabled = true WHERE \(unescaped: accounts.idColumn) = \(id)", logger: logger)
        return true
    }

    /// Whether `code` is right for the `sealed` secret of account `id` and not used before
    /// (its step is then spent).
    public func verify(_ id: Int64, sealed: [UInt8], code: String, nowSeconds: Int64) async throws -> Bool {
        guard let secret = try? secrets.open(sealed, boundTo: accounts.binding(id)),
              let step = TOTP.matchingStep(code, secret: secret, unixSeconds: nowSeconds) else { return false }
        for try await _ in try await postgres.query("""
            UPDATE \(unescaped: accounts.table) SET totp_last_step = \(Int64(step))
            WHERE \(unescaped: accounts.idColumn) = \(id) AND totp_last_step < \(Int64(step)) RETURNING 1
            """, logger: logger) { return true }
        return false
    }

    /// A step-up check of an enabled second factor (a withdrawal from a session): nil when
    /// account `id` has none enabled, else whether `code` is right and unused (then spent).
    public func check(_ id: Int64, code: String, nowSeconds: Int64) async throws -> Bool? {
        var sealed: PostgresByteA?
        for try await row in try await postgres.query("""
            SELECT totp_secret FROM \(unescaped: accounts.table) WHERE \(unescaped: accounts.idColumn) = \(id) AND totp_enabled
            """, logger: logger).decode(PostgresByteA.self) { sealed = row }
        guard let sealed else { return nil }
        return try await verify(id, sealed: sealed.bytes, code: code, nowSeconds: nowSeconds)
    }
}
