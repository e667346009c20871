import ExchangeAccess
import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import Synchronization

/// The gateway's request context (shared with the market data it mounts).
public typealias GatewayRequestContext = APIRequestContext

/// Everything the gateway's routes share: the stores, the cluster view, the submitter and the
/// projector's notices. Stateless across instances: all shared state is in Redis and
/// PostgreSQL.
public final class Gateway: Sendable {
    let configuration: GatewayConfiguration
    let redis: RedisClient
    let users: UserStore
    let markets: MarketDirectory
    let submitter: OrderSubmitter
    let notices: NoticeBoard
    /// The trade legs the projection has written (RESULT/FULL placements wait for their own).
    let settlements: SettlementBoard
    let projector: OrderProjector
    let userStreams: UserDataStreams
    let tokens: AccessTokenSigner
    let limiter: RateLimiter
    let logger: Logger
    private let keyCache = Mutex<[String: (key: UserStore.APIKey, loadedAt: ContinuousClock.Instant)]>([:])

    /// Connections of their own for the appends and the projection, so neither queues behind
    /// the other or behind request reads (one `RedisClient` is one connection).
    private let ownedClients: [RedisClient]

    /// Connects to the cluster: leases a worker id, loads the cluster view. `redis` carries
    /// requests; the appends, the projection and the user data streams get connections of
    /// their own (`shutdown()` closes them; the projection's per-log ones close with it).
    public static func start(
        configuration: GatewayConfiguration, redis: RedisClient, postgres: PostgresClient, logger: Logger
    ) async throws -> Gateway {
        let markets = MarketDirectory(client: redis)
        let map = try await markets.snapshot().map
        let appendRedis = RedisClient(configuration: redis.configuration)
        let projectionRedis = RedisClient(configuration: redis.configuration)
        let settler = AppendSettler(client: RedisClient(configuration: redis.configuration), logger: logger)
        let sweeper = AbandonedOrderSweeper(
            client: settler.client, partitionCount: map.partitionCount, scanInterval: configuration.abandonedOrderScanInterval, logger: logger)
        let submitter = try await OrderSubmitter.start(
            client: appendRedis, partitionCount: map.partitionCount, settler: settler, sweeper: sweeper, logger: logger)
        let notices = NoticeBoard()
        let settlements = SettlementBoard()
        let projector = OrderProjector(client: projectionRedis, notices: notices, settlements: settlements, markets: markets, logger: logger)
        let userStreamRedis = RedisClient(configuration: redis.configuration)
        let userStreamWaitRedis = RedisClient(configuration: redis.configuration)
        let userStreams = UserDataStreams(client: userStreamRedis, waitClient: userStreamWaitRedis, markets: markets, logger: logger)
        return Gateway(
            configuration: configuration, redis: redis,
            users: UserStore(postgres: postgres, secrets: SecretBox(masterKey: configuration.masterKey), bcryptCost: configuration.bcryptCost, logger: logger),
            markets: markets, submitter: submitter, notices: notices, settlements: settlements, projector: projector, userStreams: userStreams,
            tokens: AccessTokenSigner(secret: configuration.tokenKey), limiter: RateLimiter(client: redis, policy: configuration.rateLimits),
            ownedClients: [appendRedis, projectionRedis, userStreamRedis, userStreamWaitRedis, settler.client], logger: logger)
    }

    /// Closes the connections the gateway opened itself.
    public func shutdown() {
        for client in ownedClients { client.shutdown() }
    }

    private init(
        configuration: GatewayConfiguration, redis: RedisClient, users: UserStore, markets: MarketDirectory, submitter: OrderSubmitter,
        notices: NoticeBoard, settlements: SettlementBoard, projector: OrderProjector, userStreams: UserDataStreams, tokens: AccessTokenSigner,
        limiter: RateLimiter,
        ownedClients: [RedisClient],
        logger: Logger
    ) {
        self.ownedClients = ownedClients
        self.configuration = configuration
        self.redis = redis
        self.users = users
        self.markets = markets
        self.submitter = submitter
        self.notices = notices
        self.settlements = settlements
        self.projector = projector
        self.userStreams = userStreams
        self.tokens = tokens
        self.limiter = limiter
        self.logger = logger
    }

    /// The background work of an instance, until cancelled: the appends to clearing and the
    /// settling of those whose outcome is unknown (and of orders instances abandoned), the
    /// projector, the user data streams and the worker lease. Orders wait for it: it must run
    /// while requests are served (and stop after them: once it returns, the worker id is given
    /// back, so nothing more of this instance is recorded or appended, and the next instance
    /// takes the id at once and settles what this one left). Throws when the worker id is lost
    /// to another instance.
    public func runBackground() async throws {
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.submitter.run() }
                group.addTask { await self.submitter.settler.run() }
                group.addTask { await self.submitter.sweeper.run() }
                group.addTask { await self.projector.run() }
                group.addTask { await self.userStreams.run() }
                group.addTask { try await self.submitter.keepLease() }
            }
        } catch {
            // The lease is someone else's by now: the release checks the token, and does nothing.
            await submitter.releaseLease()
            throw error
        }
        await submitter.releaseLease()
    }

    // MARK: Signed requests

    /// A signed request whose key, permission, time window and signature passed: not yet
    /// admitted (`admit`), so neither checked for replay nor counted.
    struct VerifiedRequest: Sendable {
        var key: UserStore.APIKey
        var parameters: RequestParameters
        var signature: String
        /// How long the signature is remembered against replays (its window plus the lead).
        var signatureLifetimeMilliseconds: Int64
    }

    /// A signed request that passed every check: its key, merged parameters and the rate
    /// limits' usage (for the response headers).
    struct SignedRequest: Sendable {
        var key: UserStore.APIKey
        var parameters: RequestParameters
        var usage: RateLimiter.Usage
    }

    /// Resolves `X-MBX-APIKEY` (cached for `apiKeyCacheLifetime`); refuses a missing,
    /// malformed, unknown or disabled key, and an address outside its whitelist.
    func apiKey(_ request: Request, context: GatewayRequestContext) async throws -> UserStore.APIKey {
        guard let text = request.headers[HTTPField.Name("X-MBX-APIKEY")!], !text.isEmpty else { throw BinanceError.unauthorized }
        return try await apiKey(text, clientIP: context.clientIP)
    }

    /// The enabled key `text` names, used from `clientIP` (as `apiKey(_:context:)`).
    func apiKey(_ text: String, clientIP: String) async throws -> UserStore.APIKey {
        guard text.utf8.count == 64, text.utf8.allSatisfy({
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
        }) else {
            throw BinanceError.badAPIKeyFormat
        }
        let cached = keyCache.withLock { cache -> UserStore.APIKey? in
            guard let entry = cache[text], entry.loadedAt.duration(to: .now) < configuration.apiKeyCacheLifetime else { return nil }
            return entry.key
        }
        let key: UserStore.APIKey
        if let cached {
            key = cached
        } else {
            guard let loaded = try await users.key(text) else { throw BinanceError.rejectedAPIKey }
            keyCache.withLock { cache in
                if cache.count > 100_000 { cache.removeAll() }
                cache[text] = (loaded, .now)
            }
            key = loaded
        }
        guard key.isEnabled, key.whitelist.allows(clientIP) else { throw BinanceError.rejectedAPIKey }
        return key
    }

    /// Checks a signed request's key, permissions, timestamp window and HMAC over the raw
    /// query and body. A bad signature still counts against the IP's weight.
    func verifySigned(
        _ request: inout Request, context: GatewayRequestContext, needs permission: APIKeyPermissions, weight: Int64
    ) async throws -> VerifiedRequest {
        if request.headers[HTTPField.Name("X-MBX-APIKEY")!] == nil, request.headers[.authorization] != nil {
            return try await verifySession(&request, needs: permission)
        }
        let key = try await apiKey(request, context: context)
        guard key.permissions.contains(permission) else { throw BinanceError.rejectedAPIKey }
        let parameters = try await RequestParameters.read(&request, maximumBodyBytes: configuration.maximumBodyBytes)
        guard let timestampText = parameters["timestamp"] else { throw BinanceError.mandatory("timestamp") }
        guard let timestamp = Int64(timestampText) else { throw BinanceError.invalidParameter("timestamp", "expected milliseconds.") }
        let window = try parameters.int64("recvWindow")
        switch RequestTimeWindow.check(timestamp: timestamp, windowMilliseconds: window, now: WallClock.milliseconds()) {
        case .accepted: break
        case .invalidWindow: throw BinanceError.invalidWindow
        case .outsideWindow: throw BinanceError.outsideWindow
        }
        let (payload, signature) = RequestSignature.payload(query: parameters.rawQuery, body: parameters.rawBody)
        guard let signature else { throw BinanceError.mandatory("signature") }
        guard signature.utf8.count <= RequestSignature.maximumLength, RequestSignature.isValid(signature, payload: payload, secret: key.secret) else {
            _ = try await limiter.admit(ip: context.clientIP, weight: weight, orderOf: nil, nowMilliseconds: WallClock.milliseconds())
            throw BinanceError.badSignature
        }
        // Remembered for the request's whole window, across every instance.
        let lifetime = (window ?? RequestTimeWindow.defaultWindowMilliseconds) + RequestTimeWindow.allowedLeadMilliseconds
        return VerifiedRequest(key: key, parameters: parameters, signature: signature, signatureLifetimeMilliseconds: lifetime)
    }

    /// A request of the web pages: a user's session (`Authorization: Bearer`, not revoked)
    /// instead of a key and signature, with read and trade permission (never withdraw). No
    /// timestamp window: a bearer token in a header is not replayable by another site. Its
    /// "signature" is a fresh nonce, so admission counts it like any request.
    func verifySession(_ request: inout Request, needs permission: APIKeyPermissions) async throws -> VerifiedRequest {
        let user = try await authenticatedUser(request)
        let sessionPermissions: APIKeyPermissions = [.read, .trade]
        guard sessionPermissions.contains(permission) else { throw BinanceError.rejectedAPIKey }
        let parameters = try await RequestParameters.read(&request, maximumBodyBytes: configuration.maximumBodyBytes)
        let key = UserStore.APIKey(
            apiKey: "session", userID: user, label: "web session", permissions: sessionPermissions, whitelist: IPWhitelist([])!, secret: [],
            isEnabled: true, createdAtMilliseconds: 0)
        return VerifiedRequest(key: key, parameters: parameters, signature: "session-" + Self.randomToken(bytes: 12), signatureLifetimeMilliseconds: 1_000)
    }

    /// Admits a verified request in one Redis round trip: refuses a replay of its signature,
    /// counts `weight` from the IP (and an order of the key's user if `isOrder`), and with a
    /// `claim` records the order (see `RateLimiter.admit`).
    func admit(
        _ verified: VerifiedRequest, context: GatewayRequestContext, weight: Int64, isOrder: Bool, claim: RateLimiter.OrderClaim? = nil
    ) async throws -> RateLimiter.Admission {
        try await limiter.admit(
            ip: context.clientIP, weight: weight, orderOf: isOrder ? verified.key.userID : nil, nowMilliseconds: WallClock.milliseconds(),
            signature: verified.signature, signatureLifetimeMilliseconds: verified.signatureLifetimeMilliseconds, claim: claim)
    }

    /// `verifySigned` then `admit`: for every signed endpoint but order placement.
    func signed(
        _ request: inout Request, context: GatewayRequestContext, needs permission: APIKeyPermissions, weight: Int64
    ) async throws -> SignedRequest {
        let verified = try await verifySigned(&request, context: context, needs: permission, weight: weight)
        let admission = try await admit(verified, context: context, weight: weight, isOrder: false)
        return SignedRequest(key: verified.key, parameters: verified.parameters, usage: admission.usage)
    }

    /// The user of a request carrying `Authorization: Bearer <access token>`.
    func bearerUser(_ request: Request) throws -> UserID {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw BinanceError.invalidToken }
        return try user(accessToken: String(header.dropFirst(7)))
    }

    /// The user of a valid, unexpired access token.
    func user(accessToken: String) throws -> UserID {
        do {
            let claims = try tokens.verify(accessToken, nowSeconds: WallClock.milliseconds() / 1_000)
            guard let user = claims.userID else { throw BinanceError.invalidToken }
            return user
        } catch {
            throw BinanceError.invalidToken
        }
    }
}
