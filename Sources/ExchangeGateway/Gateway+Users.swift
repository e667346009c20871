import ExchangeAccess
import ExchangeCore
import ExchangeHTTPAPI
import ExchangePostgres
import Foundation
import Hummingbird

/// The native `/api/v1` for what Binance has no call for: accounts, sessions and API keys.
/// Bodies are JSON; answers are JSON; errors are `{"code", "msg"}` as everywhere.
extension Gateway {
    static let maximumLabelLength = 64

    func jsonBody(_ request: inout Request) async throws -> [String: Any] {
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: configuration.maximumBodyBytes) } catch { throw BinanceError.payloadTooLarge }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw BinanceError.invalidRequest("The body must be a JSON object.")
        }
        return object
    }

    static func string(_ body: [String: Any], _ name: String) throws -> String {
        guard let value = body[name] as? String, !value.isEmpty else { throw BinanceError.invalidRequest("'\(name)' is required (a string).") }
        return value
    }

    /// A new session: a short-lived access token and a refresh token (stored hashed).
    func session(for user: UserID) async throws -> JSONValue {
        let now = WallClock.milliseconds() / 1_000
        let accessToken = tokens.sign(.init(
            userID: user, issuedAtSeconds: now, expiresAtSeconds: now + configuration.accessTokenLifetimeSeconds, tokenID: Self.randomToken(bytes: 16)))
        let refreshToken = Self.randomToken(bytes: 32)
        try await users.storeRefreshToken(refreshToken, user: user, lifetimeSeconds: configuration.refreshTokenLifetimeSeconds)
        return .object([
            ("userId", .unsigned(user)), ("accessToken", .string(accessToken)), ("tokenType", "Bearer"),
            ("expiresIn", .integer(configuration.accessTokenLifetimeSeconds)), ("refreshToken", .string(refreshToken)),
        ])
    }

    /// Random URL-safe text from the system's generator.
    static func randomToken(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return RequestSignature.hexString((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The user of a bearer token that was not revoked by a logout, nor issued before the
    /// user's sessions were ended (`SessionRevocation`: a force logout or a lock by staff).
    func authenticatedUser(_ request: Request) async throws -> UserID {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw BinanceError.invalidToken }
        let token = String(header.dropFirst(7))
        let claims: AccessTokenSigner.Claims
        do { claims = try tokens.verify(token, nowSeconds: WallClock.milliseconds() / 1_000) } catch { throw BinanceError.invalidToken }
        guard let user = claims.userID else { throw BinanceError.invalidToken }
        let replies = try await redis.pipeline([
            ["EXISTS", "gw:revoked:\(SecretBox.digest(Array(token.utf8)))"], ["GET", SessionRevocation.sessionsAfterKey(user: user)],
        ])
        if replies[0].integer == 1 { throw BinanceError.invalidToken }
        if let after = replies[1].string.flatMap({ Int64($0) }), claims.iat < after { throw BinanceError.invalidToken }
        return user
    }

    func register(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        _ = try await limiter.admit(ip: context.clientIP, weight: 10, orderOf: nil, nowMilliseconds: WallClock.milliseconds())
        let body = try await jsonBody(&request)
        guard let email = Credentials.normalizedEmail(try Self.string(body, "email")) else { throw BinanceError.invalidRequest("Invalid email address.") }
        let password = try Self.string(body, "password")
        do { try Credentials.checkPassword(password) } catch { throw BinanceError.invalidRequest("\(error)") }
        guard let user = try await users.register(email: email, password: password) else { throw BinanceError.emailTaken }
        await audit("user.register", user: user.id, email: email, ip: context.clientIP)
        return JSONValue.object([("userId", .unsigned(user.id)), ("email", .string(user.email))]).response(status: .created)
    }

    func login(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        _ = try await limiter.admit(ip: context.clientIP, weight: 10, orderOf: nil, nowMilliseconds: WallClock.milliseconds())
        let body = try await jsonBody(&request)
        let email = Credentials.normalizedEmail(try Self.string(body, "email")) ?? ""
        let password = try Self.string(body, "password")
        let totp = body["totp"] as? String
        switch try await users.login(
            email: email, password: password, totp: totp, ip: context.clientIP, userAgent: request.headers[.userAgent] ?? "",
            nowSeconds: WallClock.milliseconds() / 1_000) {
        case .success(let user):
            await audit("login", user: user.id, email: email, ip: context.clientIP)
            return try await session(for: user.id).response()
        case .badCredentials:
            await audit("login.refused", user: nil, email: email, ip: context.clientIP)
            throw BinanceError.badCredentials
        case .locked:
            await audit("login.locked", user: nil, email: email, ip: context.clientIP)
            throw BinanceError.accountLocked
        case .secondFactorRequired:
            throw BinanceError.secondFactorRequired
        case .badSecondFactor:
            await audit("login.refused", user: nil, email: email, ip: context.clientIP, after: #"{"reason":"bad second factor"}"#)
            throw BinanceError.badSecondFactor
        }
    }

    /// `POST /api/v1/me/totp`: a new second-factor secret to put in an authenticator app
    /// (base32 and an `otpauth://` URI); enabled by `confirmTOTP`.
    func beginTOTP(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        guard let record = try await users.user(user) else { throw BinanceError.invalidToken }
        guard let secret = try await users.secondFactors.begin(Int64(bitPattern: user)) else { throw BinanceError.invalidRequest("A second factor is enabled already.") }
        return JSONValue.object([
            ("secret", .string(TOTP.base32(secret))), ("uri", .string(TOTP.provisioningURI(secret: secret, account: record.email, issuer: "OpenExchange"))),
        ]).response()
    }

    /// `POST /api/v1/me/totp/confirm` `{"code"}`: enables the second factor begun.
    func confirmTOTP(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let code = try Self.string(try await jsonBody(&request), "code")
        guard try await users.secondFactors.confirm(Int64(bitPattern: user), code: code, nowSeconds: WallClock.milliseconds() / 1_000) else { throw BinanceError.badSecondFactor }
        await audit("totp.enable", user: user, ip: context.clientIP)
        return JSONValue.object([("enabled", true)]).response()
    }

    func refresh(_ request: inout Request) async throws -> Response {
        let body = try await jsonBody(&request)
        guard let user = try await users.spendRefreshToken(try Self.string(body, "refreshToken")) else { throw BinanceError.invalidRefreshToken }
        return try await session(for: user).response()
    }

    /// Revokes the refresh token given and the access token used, for the rest of its life.
    func logout(_ request: inout Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        let body = try await jsonBody(&request)
        if let refreshToken = body["refreshToken"] as? String { _ = try await users.spendRefreshToken(refreshToken) }
        let token = String(request.headers[.authorization]!.dropFirst(7))
        let claims = try tokens.verify(token, nowSeconds: WallClock.milliseconds() / 1_000)
        let remaining = max(1, claims.exp - WallClock.milliseconds() / 1_000)
        _ = try await redis.send(["SET", "gw:revoked:\(SecretBox.digest(Array(token.utf8)))", "1", "EX", String(remaining)])
        logger.info("gateway.logout", metadata: ["user.id": "\(user)"])
        return JSONValue.object([]).response()
    }

    func me(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        guard let record = try await users.user(user) else { throw BinanceError.invalidToken }
        let partition = try await markets.partition(of: user)
        return JSONValue.object([
            ("userId", .unsigned(record.id)), ("email", .string(record.email)), ("createdAt", .integer(record.createdAtMilliseconds)),
            ("partition", .integer(Int64(partition))),
        ]).response()
    }

    func loginHistory(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        let records = try await users.loginHistory(user, limit: 100)
        return JSONValue.array(records.map { record in
            .object([
                ("time", .integer(record.timeMilliseconds)), ("ip", .string(record.ip)), ("userAgent", .string(record.userAgent)),
                ("success", .bool(record.success)), ("reason", .string(record.reason)),
            ])
        }).response()
    }

    // MARK: API keys

    func createKey(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let body = try await jsonBody(&request)
        let label = (body["label"] as? String) ?? ""
        // No control characters: PostgreSQL's text refuses NUL, and labels are shown to people.
        guard label.count <= Self.maximumLabelLength, label.unicodeScalars.allSatisfy({ !(0...31).contains($0.value) && !(127...159).contains($0.value) }) else {
            throw BinanceError.invalidRequest("label: at most \(Self.maximumLabelLength) characters, none of them control characters.")
        }
        guard let permissions = APIKeyPermissions(names: (body["permissions"] as? [String]) ?? ["read"]) else {
            throw BinanceError.invalidRequest("permissions: each one of read, trade, withdraw.")
        }
        guard let whitelist = IPWhitelist((body["ipWhitelist"] as? [String]) ?? []) else {
            throw BinanceError.invalidRequest("ipWhitelist: at most \(IPWhitelist.maximumEntries) IP addresses.")
        }
        let apiKey = Self.randomToken(bytes: 32)
        let secret = Self.randomToken(bytes: 32)
        guard try await users.createKey(
            user: user, label: label, permissions: permissions, whitelist: whitelist, apiKey: apiKey, secret: Array(secret.utf8)) else {
            throw BinanceError.invalidRequest("At most \(UserStore.maximumKeysPerUser) API keys per user.")
        }
        let description = JSONValue.object([
            ("apiKey", .string(apiKey)), ("label", .string(label)),
            ("permissions", .array(permissions.names.map { .string($0) })), ("ipWhitelist", .array(whitelist.addresses.map { .string($0) })),
        ])
        await audit("api_key.create", user: user, ip: context.clientIP, target: apiKey, after: description.text)
        // The secret is shown this once; it is stored sealed.
        return JSONValue.object([
            ("apiKey", .string(apiKey)), ("secretKey", .string(secret)), ("label", .string(label)),
            ("permissions", .array(permissions.names.map { .string($0) })), ("ipWhitelist", .array(whitelist.addresses.map { .string($0) })),
        ]).response(status: .created)
    }

    func listKeys(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        return JSONValue.array(try await users.keys(of: user).map { key in
            .object([
                ("apiKey", .string(key.apiKey)), ("label", .string(key.label)), ("permissions", .array(key.permissions.names.map { .string($0) })),
                ("ipWhitelist", .array(key.whitelist.addresses.map { .string($0) })), ("enabled", .bool(key.isEnabled)),
                ("createdAt", .integer(key.createdAtMilliseconds)),
            ])
        }).response()
    }

    func setKeyEnabled(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let apiKey = try context.parameters.require("key")
        let body = try await jsonBody(&request)
        guard let enabled = body["enabled"] as? Bool else { throw BinanceError.invalidRequest("'enabled' is required (true or false).") }
        guard try await users.setKeyEnabled(apiKey, user: user, enabled: enabled) else { throw BinanceError.unknownAPIKey }
        await audit(enabled ? "api_key.enable" : "api_key.disable", user: user, ip: context.clientIP, target: apiKey)
        return JSONValue.object([("apiKey", .string(apiKey)), ("enabled", .bool(enabled))]).response()
    }

    func deleteKey(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let apiKey = try context.parameters.require("key")
        guard try await users.deleteKey(apiKey, user: user) else { throw BinanceError.unknownAPIKey }
        await audit("api_key.delete", user: user, ip: context.clientIP, target: apiKey)
        return JSONValue.object([]).response()
    }

    // MARK: Audit log

    /// Records a security-relevant event of a user (`user`, or the `email` tried when none is
    /// known) in the audit log. After the action, not in its transaction: a failure to record
    /// is logged at error level with the event, and the request still answers.
    func audit(_ action: String, user: UserID?, email: String = "", ip: String, target: String = "", after: String = "") async {
        let actor = user.map { "user:\($0)" } ?? "email:\(email)"
        do {
            try await AuditLogStore(postgres: users.postgres, logger: logger).append(
                actorKind: "user", actor: actor, action: action, target: target.isEmpty ? actor : target, ip: ip, after: after)
        } catch {
            logger.error("gateway.audit not recorded: \(action) by \(actor) from \(ip): \(String(reflecting: error))")
        }
    }
}
