import ExchangeAccess
import ExchangePostgres
import Foundation
import HummingbirdBcrypt
import Logging
import PostgresNIO

/// A staff account as the admin service acts on it (never its password hash or TOTP secret).
public struct StaffMember: Sendable, Equatable {
    public var id: Int64
    public var email: String
    public var role: StaffRole
    public var totpEnabled: Bool
    public var disabled: Bool
    /// Sessions issued before this (Unix seconds) are refused: a role change, a disable.
    public var sessionsAfter: Int64
    public var createdAtMilliseconds: Int64
}

/// Staff accounts in PostgreSQL (`exchange_admin.staff`): bcrypt password hashes, a lockout
/// after repeated failed logins, an optional TOTP second factor sealed with the master key
/// (each code good once), and `sessions_after` to end every session of an account at once.
public struct StaffStore: Sendable {
    static let lockoutFailures = 5
    static let lockoutSeconds = 900

    let postgres: PostgresClient
    let secondFactors: SecondFactors
    let bcryptCost: UInt8
    let logger: Logger
    /// A hash checked against for unknown emails, so they cost what a wrong password costs.
    let decoyHash: String

    public init(postgres: PostgresClient, masterKey: [UInt8], bcryptCost: UInt8, logger: Logger) {
        self.postgres = postgres
        secondFactors = SecondFactors(postgres: postgres, secrets: SecretBox(masterKey: masterKey), accounts: .staff, logger: logger)
        self.bcryptCost = bcryptCost
        self.logger = logger
        decoyHash = Bcrypt.hash("decoy password 0", cost: bcryptCost)
    }

    static let columns = """
        staff_id, email, role, totp_enabled, disabled, sessions_after, (extract(epoch FROM created_at) * 1000)::bigint
        """

    static func member(_ row: (Int64, String, String, Bool, Bool, Int64, Int64)) -> StaffMember? {
        guard let role = StaffRole(rawValue: row.2) else { return nil }
        return StaffMember(id: row.0, email: row.1, role: role, totpEnabled: row.3, disabled: row.4, sessionsAfter: row.5, createdAtMilliseconds: row.6)
    }

    /// Creates an account; nil if the email is taken.
    public func create(email: String, password: String, role: StaffRole) async throws -> StaffMember? {
        let hash = Bcrypt.hash(password, cost: bcryptCost)
        let rows = try await postgres.query("""
            INSERT INTO exchange_admin.staff (email, password_hash, role) VALUES (\(email), \(hash), \(role.rawValue))
            ON CONFLICT (email) DO NOTHING RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        for try await row in rows.decode((Int64, String, String, Bool, Bool, Int64, Int64).self) { return Self.member(row) }
        return nil
    }

    public func member(_ id: Int64) async throws -> StaffMember? {
        for try await row in try await postgres.query(
            "SELECT \(unescaped: Self.columns) FROM exchange_admin.staff WHERE staff_id = \(id)", logger: logger
        ).decode((Int64, String, String, Bool, Bool, Int64, Int64).self) { return Self.member(row) }
        return nil
    }

    public func all() async throws -> [StaffMember] {
        var members: [StaffMember] = []
        for try await row in try await postgres.query(
            "SELECT \(unescaped: Self.columns) FROM exchange_admin.staff ORDER BY staff_id", logger: logger
        ).decode((Int64, String, String, Bool, Bool, Int64, Int64).self) {
            if let member = Self.member(row) { members.append(member) }
        }
        return members
    }

    public enum LoginResult: Sendable, Equatable {
        case success(StaffMember)
        case badCredentials
        case locked
        case secondFactorRequired
        case badSecondFactor
    }

    /// Checks a password and, when enabled, a TOTP code; counts failures (a lockout after
    /// `lockoutFailures` in a row). A disabled account is refused like a bad password.
    public func login(email: String, password: String, totp: String?, nowSeconds: Int64) async throws -> LoginResult {
        var found: (id: Int64, hash: String, locked: Bool, disabled: Bool, sealed: PostgresByteA?)?
        for try await row in try await postgres.query("""
            SELECT staff_id, password_hash, coalesce(locked_until > now(), false), disabled, CASE WHEN totp_enabled THEN totp_secret END
            FROM exchange_admin.staff WHERE email = \(email)
            """, logger: logger).decode((Int64, String, Bool, Bool, PostgresByteA?).self) { found = row }
        guard let found, !found.disabled else {
            _ = Bcrypt.verify(password, hash: decoyHash)
            return .badCredentials
        }
        if found.locked { return .locked }
        guard Bcrypt.verify(password, hash: found.hash) else {
            try await postgres.query("""
                UPDATE exchange_admin.staff SET
                  failed_logins = CASE WHEN failed_logins + 1 >= \(Self.lockoutFailures) THEN 0 ELSE failed_logins + 1 END,
                  locked_until = CASE WHEN failed_logins + 1 >= \(Self.lockoutFailures)
                                      THEN now() + make_interval(secs => \(Self.lockoutSeconds)) ELSE locked_until END
                WHERE staff_id = \(found.id)
                """, logger: logger)
            return .badCredentials
        }
        if let sealed = found.sealed {
            guard let totp else { return .secondFactorRequired }
            guard try await secondFactors.verify(found.id, sealed: sealed.bytes, code: totp, nowSeconds: nowSeconds) else { return .badSecondFactor }
        }
        try await postgres.query("UPDATE exchange_admin.staff SET failed_logins = 0 WHERE staff_id = \(found.id)", logger: logger)
        guard let member = try await member(found.id) else { return .badCredentials }
        return .success(member)
    }

    func beginTOTP(staff: Int64) async throws -> [UInt8]? { try await secondFactors.begin(staff) }

    func confirmTOTP(staff: Int64, code: String, nowSeconds: Int64) async throws -> Bool {
        try await secondFactors.confirm(staff, code: code, nowSeconds: nowSeconds)
    }

    /// Changes a role or the disabled flag, ending the account's sessions; returns the account
    /// before and after, or nil if there is none.
    func update(_ id: Int64, role: StaffRole? = nil, disabled: Bool? = nil, nowSeconds: Int64) async throws -> (before: StaffMember, after: StaffMember)? {
        guard let before = try await member(id) else { return nil }
        try await postgres.query("""
            UPDATE exchange_admin.staff SET role = \(role?.rawValue ?? before.role.rawValue), disabled = \(disabled ?? before.disabled),
              sessions_after = \(nowSeconds) WHERE staff_id = \(id)
            """, logger: logger)
        guard let after = try await member(id) else { return nil }
        return (before, after)
    }
}
