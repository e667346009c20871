import Crypto
import ExchangeAccess
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangePostgres
import ExchangeRedis
import Foundation
import Hummingbird
import Logging
import PostgresNIO

/// What `exchange admin` is configured with.
public struct AdminConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8087
    public var bcryptCost: UInt8 = 10
    /// Seals staff TOTP secrets (the gateway's master key: the same secrets file).
    public var masterKey: [UInt8]
    /// Staff session tokens are signed with a key derived from this one (HKDF, info
    /// `exchange-admin-staff`), so no trader's token is ever a staff token.
    public var tokenKey: [UInt8]
    public var sessionLifetimeSeconds: Int64 = 3_600
    public var maximumBodyBytes = 64 * 1024
    /// How long a kill switch with `cancelResting` waits for matching and the recorder to
    /// pass the halt before it reads the resting orders to cancel.
    public var haltSettleTimeout = Duration.seconds(10)

    public init(masterKey: [UInt8], tokenKey: [UInt8]) {
        self.masterKey = masterKey
        self.tokenKey = tokenKey
    }
}

/// The admin service: staff sessions, the RBAC check every endpoint goes through
/// (`AdminRoute`, `StaffPolicy`), and the audit record of every staff action.
public final class Admin: Sendable {
    public let configuration: AdminConfiguration
    let redis: RedisClient
    let postgres: PostgresClient
    public let staff: StaffStore
    let users: UserDirectory
    let tokens: AccessTokenSigner
    let logger: Logger

    public init(configuration: AdminConfiguration, redis: RedisClient, postgres: PostgresClient, logger: Logger) {
        self.configuration = configuration
        self.redis = redis
        self.postgres = postgres
        self.logger = logger
        staff = StaffStore(postgres: postgres, masterKey: configuration.masterKey, bcryptCost: configuration.bcryptCost, logger: logger)
        users = UserDirectory(postgres: postgres, redis: redis, logger: logger)
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: configuration.tokenKey), info: Array("exchange-admin-staff".utf8), outputByteCount: 32)
        tokens = AccessTokenSigner(secret: derived.withUnsafeBytes { Array($0) })
    }

    var markets: ClearingAdmin { ClearingAdmin(client: redis) }


    // MARK: Sessions and RBAC

    static func revokedKey(_ token: Substring) -> String { "adm:revoked:\(SecretBox.digest(Array(token.utf8)))" }

    /// The staff member of a bearer token: signed by us, unexpired, not logged out, issued
    /// after the account's last role change or disable, and the account enabled.
    func staffMember(_ request: Request) async throws -> StaffMember {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw BinanceError.invalidToken }
        let token = header.dropFirst(7)
        let claims: AccessTokenSigner.Claims
        do { claims = try tokens.verify(String(token), nowSeconds: WallClock.milliseconds() / 1_000) } catch { throw BinanceError.invalidToken }
        guard let id = Int64(claims.sub) else { throw BinanceError.invalidToken }
        if try await redis.send(["EXISTS", Self.revokedKey(token)]).integer == 1 { throw BinanceError.invalidToken }
        guard let member = try await staff.member(id), !member.disabled, claims.iat >= member.sessionsAfter else { throw BinanceError.invalidToken }
        return member
    }

    /// The staff member of the request if their role allows `action` (`StaffPolicy`); 401
    /// without a valid session, 403 otherwise.
    func authorize(_ request: Request, _ action: AdminAction) async throws -> StaffMember {
        let member = try await staffMember(request)
        guard StaffPolicy.allows(member.role, action) else {
            logger.notice("admin.forbidden", metadata: ["staff": "\(member.email)", "role": "\(member.role.rawValue)", "action": "\(action.rawValue)"])
            throw BinanceError.forbiddenAction
        }
        return member
    }

    func session(for member: StaffMember) -> JSONValue {
        let now = WallClock.milliseconds() / 1_000
        var generator = SystemRandomNumberGenerator()
        let tokenID = RequestSignature.hexString((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let token = tokens.sign(.init(
            userID: UInt64(member.id), issuedAtSeconds: now, expiresAtSeconds: now + configuration.sessionLifetimeSeconds, tokenID: tokenID))
        return .object([
            ("accessToken", .string(token)), ("tokenType", "Bearer"), ("expiresIn", .integer(configuration.sessionLifetimeSeconds)),
            ("staff", Self.json(member)),
        ])
    }

    static func json(_ member: StaffMember) -> JSONValue {
        .object([
            ("staffId", .integer(member.id)), ("email", .string(member.email)), ("role", .string(member.role.rawValue)),
            ("secondFactor", .bool(member.totpEnabled)), ("disabled", .bool(member.disabled)), ("createdAt", .integer(member.createdAtMilliseconds)),
        ])
    }

    // MARK: Audit

    /// Records a staff action in the audit log. A failure to record fails the request: the
    /// action happened, so the error says so and the operator sees it in the log.
    func audit(_ member: StaffMember, _ action: String, target: String, ip: String, before: JSONValue = .null, after: JSONValue = .null) async throws {
        do {
            _ = try await AuditLogStore(postgres: postgres, logger: logger).append(
                actorKind: "staff", actor: member.email, action: action, target: target, ip: ip,
                before: before == .null ? "" : before.text, after: after == .null ? "" : after.text)
        } catch {
            logger.error("admin.audit not recorded: \(action) on \(target) by \(member.email) from \(ip): \(String(reflecting: error))")
            throw BinanceError(status: .internalServerError, code: -4004, message: "The action was done but its audit record failed; tell an operator.")
        }
    }
}
