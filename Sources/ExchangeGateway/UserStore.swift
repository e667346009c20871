import ExchangeAccess
import ExchangeCore
import ExchangePostgres
import Foundation
import HummingbirdBcrypt
import Logging
import PostgresNIO

/// Users, sessions (refresh tokens), login history and API keys in PostgreSQL
/// (`exchange_user`). Passwords are bcrypt hashes; refresh tokens are stored as SHA-256
/// digests; API secrets are sealed with the master key (`SecretBox`). Nothing here logs a
/// secret, a password, a token or a signature.
struct UserStore: Sendable {
    struct User: Sendable, Equatable {
        var id: UserID
        var email: String
        var createdAtMilliseconds: Int64
    }

    struct APIKey: Sendable {
        var apiKey: String
        var userID: UserID
        var label: String
        var permissions: APIKeyPermissions
        var whitelist: IPWhitelist
        var secret: [UInt8]
        var isEnabled: Bool
        var createdAtMilliseconds: Int64
    }

    struct LoginRecord: Sendable {
        var timeMilliseconds: Int64
        var ip: String
        var userAgent: String
        var success: Bool
        var reason: String
    }

    /// Failed logins in a row that lock an account, and for how long.
    static let lockoutFailures = 5
    static let lockoutSeconds = 900
    /// API keys per user, at most.
    static let maximumKeysPerUser = 30

    let postgres: PostgresClient
    let secrets: SecretBox
    let bcryptCost: UInt8
    let logger: Logger
    /// A hash checked against for unknown emails, so they cost what a wrong password costs.
    let decoyHash: String

    init(postgres: PostgresClient, secrets: SecretBox, bcryptCost: UInt8, logger: Logger) {
        self.postgres = postgres
        self.secrets = secrets
        self.bcryptCost = bcryptCost
        self.logger = logger
        decoyHash = Bcrypt.hash("decoy password 0", cost: bcryptCost)
    }

    /// Creates a user; nil if the email is taken.
    func register(email: String, password: String) async throws -> User? {
        let hash = Bcrypt.hash(password, cost: bcryptCost)
        let rows = try await postgres.query("""
            INSERT INTO exchange_user.users (email, password_hash) VALUES (\(email), \(hash))
            ON CONFLICT (email) DO NOTHING
            RETURNING user_id, (extract(epoch FROM created_at) * 1000)::bigint
            """, logger: logger)
        for try await (id, created) in rows.decode((Int64, Int64).self) {
            return User(id: UserID(bitPattern: id), email: email, createdAtMilliseconds: created)
        }
        return nil
    }

    enum LoginResult: Sendable, Equatable {
        case success(User)
        case badCredentials
        case locked
        /// The password was right; the account has a second factor and no code came.
        case secondFactorRequired
        /// The password was right; the second factor's code was wrong or used already.
        case badSecondFactor
    }

    /// Checks a password (and, when the user enabled it, a TOTP code), counting failures (a
    /// lockout after `lockoutFailures` in a row) and recording the attempt in the login history.
    /// An account frozen by staff is refused like a locked one.
    func login(email: String, password: String, totp: String?, ip: String, userAgent: String, nowSeconds: Int64) async throws -> LoginResult {
        var found: (id: Int64, hash: String, locked: Bool, created: Int64, totpSecret: PostgresByteA?)?
        for try await row in try await postgres.query("""
            SELECT user_id, password_hash, coalesce(locked_until > now(), false) OR frozen, (extract(epoch FROM created_at) * 1000)::bigint,
                   CASE WHEN totp_enabled THEN totp_secret END
            FROM exchange_user.users WHERE email = \(email)
            """, logger: logger).decode((Int64, String, Bool, Int64, PostgresByteA?).self) {
            found = row
        }
        let result: LoginResult
        let reason: String
        if let found {
            if found.locked {
                (result, reason) = (.locked, "locked")
            } else if Bcrypt.verify(password, hash: found.hash), let sealed = found.totpSecret {
                if let totp, try await secondFactors.verify(found.id, sealed: sealed.bytes, code: totp, nowSeconds: nowSeconds) {
                    (result, reason) = (.success(User(id: UserID(bitPattern: found.id), email: email, createdAtMilliseconds: found.created)), "ok")
                } else {
                    (result, reason) = totp == nil ? (.secondFactorRequired, "second factor required") : (.badSecondFactor, "bad second factor")
                }
            } else if Bcrypt.verify(password, hash: found.hash) {
                (result, reason) = (.success(User(id: UserID(bitPattern: found.id), email: email, createdAtMilliseconds: found.created)), "ok")
                try await postgres.query("UPDATE exchange_user.users SET failed_logins = 0 WHERE user_id = \(found.id)", logger: logger)
            } else {
                (result, reason) = (.badCredentials, "bad password")
                try await postgres.query("""
                    UPDATE exchange_user.users SET
                      failed_logins = CASE WHEN failed_logins + 1 >= \(Self.lockoutFailures) THEN 0 ELSE failed_logins + 1 END,
                      locked_until = CASE WHEN failed_logins + 1 >= \(Self.lockoutFailures)
                                          THEN now() + make_interval(secs => \(Self.lockoutSeconds)) ELSE locked_until END
                    WHERE user_id = \(found.id)
                    """, logger: logger)
            }
        } else {
            // Same work as a wrong password, so response times do not reveal which emails exist.
            _ = Bcrypt.verify(password, hash: decoyHash)
            (result, reason) = (.badCredentials, "unknown email")
        }
        let userID = found.map(\.id)
        let success = if case .success = result { true } else { false }
        try await postgres.query("""
            INSERT INTO exchange_user.login_history (user_id, email, ip, user_agent, success, reason)
            VALUES (\(userID), \(email), \(ip), \(String(userAgent.prefix(256))), \(success), \(reason))
            """, logger: logger)
        return result
    }

    var secondFactors: SecondFactors { SecondFactors(postgres: postgres, secrets: secrets, accounts: .users, logger: logger) }

    func user(_ id: UserID) async throws -> User? {
        for try await (email, created) in try await postgres.query("""
            SELECT email, (extract(epoch FROM created_at) * 1000)::bigint FROM exchange_user.users WHERE user_id = \(Int64(bitPattern: id))
            """, logger: logger).decode((String, Int64).self) {
            return User(id: id, email: email, createdAtMilliseconds: created)
        }
        return nil
    }

    func loginHistory(_ id: UserID, limit: Int) async throws -> [LoginRecord] {
        var records: [LoginRecord] = []
        for try await (time, ip, agent, success, reason) in try await postgres.query("""
            SELECT (extract(epoch FROM at) * 1000)::bigint, ip, user_agent, success, reason FROM exchange_user.login_history
            WHERE user_id = \(Int64(bitPattern: id)) ORDER BY id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, Bool, String).self) {
            records.append(LoginRecord(timeMilliseconds: time, ip: ip, userAgent: agent, success: success, reason: reason))
        }
        return records
    }

    // MARK: Refresh tokens

    func storeRefreshToken(_ token: String, user: UserID, lifetimeSeconds: Int) async throws {
        try await postgres.query("""
            INSERT INTO exchange_user.refresh_tokens (token_hash, user_id, expires_at)
            VALUES (\(SecretBox.digest(Array(token.utf8))), \(Int64(bitPattern: user)), now() + make_interval(secs => \(lifetimeSeconds)))
            """, logger: logger)
    }

    /// Revokes `token` and returns its user if it was valid (a refresh rotates: the old token
    /// is spent).
    func spendRefreshToken(_ token: String) async throws -> UserID? {
        for try await id in try await postgres.query("""
            UPDATE exchange_user.refresh_tokens SET revoked_at = now()
            WHERE token_hash = \(SecretBox.digest(Array(token.utf8))) AND revoked_at IS NULL AND expires_at > now()
              AND NOT (SELECT frozen FROM exchange_user.users u WHERE u.user_id = refresh_tokens.user_id)
            RETURNING user_id
            """, logger: logger).decode(Int64.self) {
            return UserID(bitPattern: id)
        }
        return nil
    }

    // MARK: API keys

    func createKey(user: UserID, label: String, permissions: APIKeyPermissions, whitelist: IPWhitelist, apiKey: String, secret: [UInt8]) async throws -> Bool {
        let sealed = try secrets.seal(secret, boundTo: apiKey)
        let rows = try await postgres.query("""
            INSERT INTO exchange_user.api_keys (api_key, user_id, label, permissions, ip_whitelist, sealed_secret)
            SELECT \(apiKey), \(Int64(bitPattern: user)), \(label), \(permissions.rawValue), \(whitelist.addresses), \(PostgresByteA(bytes: sealed))
            WHERE (SELECT count(*) FROM exchange_user.api_keys WHERE user_id = \(Int64(bitPattern: user))) < \(Self.maximumKeysPerUser)
            RETURNING 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }


    func key(_ apiKey: String) async throws -> APIKey? {
        var found: APIKey?
        for try await (key, userID, label, permissions, whitelist, sealed, enabled, created) in try await postgres.query("""
            SELECT api_key, user_id, label, permissions, ip_whitelist, sealed_secret, enabled, (extract(epoch FROM created_at) * 1000)::bigint
            FROM exchange_user.api_keys WHERE api_key = \(apiKey)
              AND NOT (SELECT frozen FROM exchange_user.users u WHERE u.user_id = api_keys.user_id)
            """, logger: logger).decode((String, Int64, String, Int, [String], PostgresByteA, Bool, Int64).self) {
            found = APIKey(
                apiKey: key, userID: UserID(bitPattern: userID), label: label, permissions: APIKeyPermissions(rawValue: permissions),
                whitelist: IPWhitelist(whitelist) ?? IPWhitelist([])!, secret: try secrets.open(sealed.bytes, boundTo: key), isEnabled: enabled,
                createdAtMilliseconds: created)
        }
        return found
    }

    /// `user`'s keys without their secrets.
    func keys(of user: UserID) async throws -> [APIKey] {
        var keys: [APIKey] = []
        for try await (key, label, permissions, whitelist, enabled, created) in try await postgres.query("""
            SELECT api_key, label, permissions, ip_whitelist, enabled, (extract(epoch FROM created_at) * 1000)::bigint
            FROM exchange_user.api_keys WHERE user_id = \(Int64(bitPattern: user)) ORDER BY created_at
            """, logger: logger).decode((String, String, Int, [String], Bool, Int64).self) {
            keys.append(APIKey(
                apiKey: key, userID: user, label: label, permissions: APIKeyPermissions(rawValue: permissions),
                whitelist: IPWhitelist(whitelist) ?? IPWhitelist([])!, secret: [], isEnabled: enabled, createdAtMilliseconds: created))
        }
        return keys
    }

    /// Enables or disables one of `user`'s keys; false if there is no such key of theirs.
    func setKeyEnabled(_ apiKey: String, user: UserID, enabled: Bool) async throws -> Bool {
        for try await _ in try await postgres.query("""
            UPDATE exchange_user.api_keys SET enabled = \(enabled) WHERE api_key = \(apiKey) AND user_id = \(Int64(bitPattern: user)) RETURNING 1
            """, logger: logger) { return true }
        return false
    }

    func deleteKey(_ apiKey: String, user: UserID) async throws -> Bool {
        for try await _ in try await postgres.query("""
            DELETE FROM exchange_user.api_keys WHERE api_key = \(apiKey) AND user_id = \(Int64(bitPattern: user)) RETURNING 1
            """, logger: logger) { return true }
        return false
    }
}
