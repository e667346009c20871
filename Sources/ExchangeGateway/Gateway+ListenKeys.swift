import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import Hummingbird

/// Binance's legacy user data stream (shared/formats/binance-api.md §7, for clients older than
/// the WebSocket API): `POST /api/v3/userDataStream` (API key only, no signature) gives a
/// listenKey that lives 60 minutes unless `PUT` renews it; `DELETE` ends it. The events of
/// its user are then pushed raw on `/ws/<listenKey>`. Keys live in Redis (`gw:lk:{key}` →
/// user id), shared by every instance.
extension Gateway: PrivateEventSource {
    static let listenKeyLifetimeSeconds = 3_600
    static let listenKeyAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    static let listenKeyWeight: Int64 = 2
    static let unknownListenKey = BinanceError(code: -1125, message: "This listenKey does not exist.")

    static func listenKeyRecord(_ listenKey: String) -> String { "gw:lk:\(listenKey)" }

    func addListenKeyRoutes(to v3: RouterGroup<GatewayRequestContext>) {
        v3.post("userDataStream") { request, context in
            let (key, usage) = try await self.listenKeyCaller(request, context: context)
            let listenKey = String(decoding: (0..<60).map { _ in Self.listenKeyAlphabet.randomElement()! }, as: UTF8.self)
            _ = try await self.redis.send(["SET", Self.listenKeyRecord(listenKey), String(key.userID), "EX", String(Self.listenKeyLifetimeSeconds)])
            return JSONValue.object([("listenKey", .string(listenKey))]).response(headers: usage.headers)
        }
        v3.put("userDataStream") { request, context in
            let (_, usage, listenKey) = try await self.ownedListenKey(request, context: context)
            _ = try await self.redis.send(["EXPIRE", Self.listenKeyRecord(listenKey), String(Self.listenKeyLifetimeSeconds)])
            return JSONValue.object([]).response(headers: usage.headers)
        }
        v3.delete("userDataStream") { request, context in
            let (_, usage, listenKey) = try await self.ownedListenKey(request, context: context)
            _ = try await self.redis.send(["DEL", Self.listenKeyRecord(listenKey)])
            return JSONValue.object([]).response(headers: usage.headers)
        }
    }

    /// The caller's API key (header only: these calls are not signed), counted against its IP.
    private func listenKeyCaller(_ request: Request, context: GatewayRequestContext) async throws -> (UserStore.APIKey, RateLimiter.Usage) {
        let key = try await apiKey(request, context: context)
        let admission = try await limiter.admit(ip: context.clientIP, weight: Self.listenKeyWeight, orderOf: nil, nowMilliseconds: WallClock.milliseconds())
        return (key, admission.usage)
    }

    /// The `listenKey` parameter, which must be live and the caller's.
    private func ownedListenKey(_ request: Request, context: GatewayRequestContext) async throws -> (UserStore.APIKey, RateLimiter.Usage, String) {
        let (key, usage) = try await listenKeyCaller(request, context: context)
        var request = request
        let listenKey = try await RequestParameters.read(&request, maximumBodyBytes: configuration.maximumBodyBytes).required("listenKey")
        guard try await listenKeyOwner(listenKey) == key.userID else { throw Self.unknownListenKey }
        return (key, usage, listenKey)
    }

    private func listenKeyOwner(_ listenKey: String) async throws -> UserID? {
        guard listenKey.utf8.count == 60, listenKey.utf8.allSatisfy(Self.listenKeyAlphabet.contains) else { return nil }
        return try await redis.send(["GET", Self.listenKeyRecord(listenKey)]).string.flatMap { UserID($0) }
    }

    // MARK: PrivateEventSource

    public func attach(accessToken: String, to outbox: WebSocketOutbox) async throws -> UInt64 {
        let user = try user(accessToken: accessToken)
        try await userStreams.subscribe(user, .init(outbox: outbox, wrapping: .native))
        return user
    }

    public func attach(listenKey: String, to outbox: WebSocketOutbox) async throws -> Bool {
        guard let user = try await listenKeyOwner(listenKey) else { return false }
        try await userStreams.subscribe(user, .init(outbox: outbox, wrapping: .raw))
        return true
    }

    public func detach(_ outbox: WebSocketOutbox) { userStreams.unsubscribe(outbox, subscriptionID: nil) }
}
