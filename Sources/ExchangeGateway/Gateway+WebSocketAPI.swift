import ExchangeAccess
import ExchangeCore
import ExchangeHTTPAPI
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Binance's WebSocket API for user data (`shared/formats/binance-api.md` §7) at
/// `/ws-api/v3`: `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`,
/// `session.subscriptions`, `ping`, `time` (each also as `v3/<method>`). Every answer has
/// `status` and `rateLimits` (unless `returnRateLimits` is false); ids are echoed verbatim.
extension Gateway {
    /// A request frame: `{"id":…,"method":…,"params":{…}}`.
    struct WebSocketAPIRequest: Decodable {
        struct Options: Decodable {
            var returnRateLimits: Bool?
        }
        var id: WebSocketRequestID?
        var method: String
        var params: Options?
    }

    /// Weight of one WebSocket API request (Binance: 2 for the user data stream calls).
    static let webSocketAPIWeight: Int64 = 2
    static let webSocketAPIMessageBytes = 16_384

    func addWebSocketAPI(to router: Router<GatewayRequestContext>) {
        router.ws("ws-api/v3") { inbound, outbound, context in
            try await self.serveWebSocketAPI(inbound, outbound, clientIP: context.requestContext.clientIP, channel: context.requestContext.channel)
        }
    }

    func serveWebSocketAPI(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, clientIP: String, channel: any Channel) async throws {
        let outbox = WebSocketOutbox(id: UInt64.random(in: 0...UInt64.max), queueCapacity: configuration.userStreamQueueCapacity, channel: channel)
        var nextSubscription = 0
        defer { userStreams.unsubscribe(outbox, subscriptionID: nil) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await outbox.supervise(outbound) }
            defer { outbox.finish() }
            for try await message in inbound.messages(maxSize: Self.webSocketAPIMessageBytes) {
                guard case .text(let text) = message, text.utf8.count <= Self.webSocketAPIMessageBytes else {
                    outbox.send(Self.webSocketAPIError(id: .null, BinanceError(code: -1000, message: "Requests are JSON text frames of at most 16 KiB."), limits: nil))
                    continue
                }
                outbox.send(await answerWebSocketAPI(text, outbox: outbox, clientIP: clientIP, nextSubscription: &nextSubscription))
            }
            outbox.finish()
            try await group.waitForAll()
        }
    }

    /// The answer to one request frame.
    func answerWebSocketAPI(_ text: String, outbox: WebSocketOutbox, clientIP: String, nextSubscription: inout Int) async -> String {
        let bytes = Data(text.utf8)
        guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any],
              let request = try? JSONDecoder().decode(WebSocketAPIRequest.self, from: bytes) else {
            return Self.webSocketAPIError(id: .null, BinanceError(code: -1000, message: "Malformed request: expected {\"id\",\"method\",\"params\"}."), limits: nil)
        }
        let id = request.id?.value ?? .null
        var parameters: [(name: String, value: String)] = []
        for (name, value) in object["params"] as? [String: Any] ?? [:] {
            switch value {
            case let text as String: parameters.append((name, text))
            case let number as NSNumber: parameters.append((name, number.stringValue))
            default: return Self.webSocketAPIError(id: id, .invalidParameter(name, "expected a string or a number."), limits: nil)
            }
        }
        let returnRateLimits = request.params?.returnRateLimits ?? true
        var limits: RateLimiter.Usage?
        do {
            limits = try await limiter.admit(ip: clientIP, weight: Self.webSocketAPIWeight, orderOf: nil, nowMilliseconds: WallClock.milliseconds()).usage
            let method = request.method.hasPrefix("v3/") ? String(request.method.dropFirst(3)) : request.method
            let result: JSONValue
            switch method {
            case "ping":
                result = .object([])
            case "time":
                result = .object([("serverTime", .integer(WallClock.milliseconds()))])
            case "userDataStream.subscribe.signature":
                let user = try await verifyWebSocketSignature(parameters, clientIP: clientIP)
                let subscriptionID = nextSubscription
                nextSubscription += 1
                try await userStreams.subscribe(user, .init(outbox: outbox, wrapping: .webSocketAPI(subscriptionID: subscriptionID)))
                result = .object([("subscriptionId", .integer(Int64(subscriptionID)))])
            case "userDataStream.unsubscribe":
                let requested = parameters.first { $0.name == "subscriptionId" }.map(\.value)
                let subscriptionID = try requested.map { text throws(BinanceError) -> Int in
                    guard let value = Int(text) else { throw .invalidParameter("subscriptionId", "expected an integer.") }
                    return value
                }
                guard userStreams.unsubscribe(outbox, subscriptionID: subscriptionID) else {
                    throw BinanceError(code: -2035, message: "User Data Stream subscription not active.")
                }
                result = .object([])
            case "session.subscriptions":
                result = .array(userStreams.subscriptionIDs(of: outbox).map { .object([("subscriptionId", .integer(Int64($0)))]) })
            default:
                throw BinanceError(code: -1000, message: "Unknown method '\(request.method.prefix(64))'.")
            }
            var members: [(String, JSONValue)] = [("id", id), ("status", 200), ("result", result)]
            if returnRateLimits { members.append(("rateLimits", Self.rateLimits(limits, configuration: configuration))) }
            return JSONValue.object(members).text
        } catch let error as BinanceError {
            return Self.webSocketAPIError(id: id, error, limits: returnRateLimits ? Self.rateLimits(limits, configuration: configuration) : nil)
        } catch {
            logger.error("gateway.ws-api failed", metadata: ["error": "\(String(reflecting: error))"])
            return Self.webSocketAPIError(id: id, .unknown, limits: nil)
        }
    }

    /// Checks `apiKey`, `timestamp` / `recvWindow` and the HMAC over the sorted parameters;
    /// returns the key's user.
    func verifyWebSocketSignature(_ parameters: [(name: String, value: String)], clientIP: String) async throws -> UserID {
        let value = { (name: String) in parameters.first { $0.name == name }?.value }
        guard let apiKeyText = value("apiKey") else { throw BinanceError.mandatory("apiKey") }
        let key = try await apiKey(apiKeyText, clientIP: clientIP)
        guard let timestampText = value("timestamp") else { throw BinanceError.mandatory("timestamp") }
        guard let timestamp = Int64(timestampText) else { throw BinanceError.invalidParameter("timestamp", "expected milliseconds.") }
        let window = try value("recvWindow").map { text throws(BinanceError) -> Int64 in
            guard let window = Int64(text) else { throw .invalidParameter("recvWindow", "expected milliseconds.") }
            return window
        }
        switch RequestTimeWindow.check(timestamp: timestamp, windowMilliseconds: window, now: WallClock.milliseconds()) {
        case .accepted: break
        case .invalidWindow: throw BinanceError.invalidWindow
        case .outsideWindow: throw BinanceError.outsideWindow
        }
        guard let signature = value("signature") else { throw BinanceError.mandatory("signature") }
        guard signature.utf8.count <= RequestSignature.maximumLength,
              RequestSignature.isValid(signature, payload: RequestSignature.webSocketPayload(parameters), secret: key.secret) else {
            throw BinanceError.badSignature
        }
        return key.userID
    }

    /// The `rateLimits` array: the request weight of the minute.
    static func rateLimits(_ usage: RateLimiter.Usage?, configuration: GatewayConfiguration) -> JSONValue {
        .array([.object([
            ("rateLimitType", "REQUEST_WEIGHT"), ("interval", "MINUTE"), ("intervalNum", 1),
            ("limit", .integer(configuration.rateLimits.requestWeightPerMinute)), ("count", .integer(usage?.weightThisMinute ?? 0)),
        ])])
    }

    static func webSocketAPIError(id: JSONValue, _ error: BinanceError, limits: JSONValue?) -> String {
        var members: [(String, JSONValue)] = [
            ("id", id), ("status", .integer(Int64(error.status.code))),
            ("error", .object([("code", .integer(Int64(error.code))), ("msg", .string(error.message))])),
        ]
        if let limits { members.append(("rateLimits", limits)) }
        return JSONValue.object(members).text
    }
}
