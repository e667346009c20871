import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// Limits of the market streams' WebSocket side.
public struct MarketStreamLimits: Sendable {
    /// Frames queued to one client before it is dropped as too slow.
    public var queueCapacity = 4_096
    /// Streams one connection may hold (Binance: 1,024).
    public var subscriptionsPerConnection = 1_024
    /// Open connections from one address.
    public var connectionsPerAddress = 300
    /// The largest control message accepted, in bytes (a larger one closes with 1009).
    public var maximumMessageBytes = 16_384
    /// Each stream socket's kernel send buffer (SO_SNDBUF), and NIO's write buffer high-water
    /// mark: small enough that a client that stops reading fills its queue within seconds
    /// instead of hiding megabytes in buffers.
    public var socketSendBufferBytes = 262_144

    public init() {}
}

/// Binance market streams (`shared/formats/binance-api.md` §6): `/ws`, `/ws/<stream>`,
/// `/ws/<anything else>` (ccxt's `/ws/0`), `/stream?streams=a/b`, and the
/// SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS control frames, ids echoed verbatim.
extension MarketDataHub {
    /// Control frame errors (Binance's codes: 1 invalid value type, 2 invalid request,
    /// 3 invalid JSON).
    struct ControlError: Error {
        var code: Int
        var message: String
    }

    /// The streams on `router`: Binance's (`/ws`, `/ws/<stream or listenKey>`, `/stream`) and
    /// the native `/ws/v1`. `privateEvents` (the gateway, when mounted there) serves listenKey
    /// streams and the native `private.events` channel; without it those are refused.
    public func addStreamRoutes(to router: Router<APIRequestContext>, limits: MarketStreamLimits, privateEvents: (any PrivateEventSource)? = nil) {
        router.ws("ws") { inbound, outbound, context in
            try await self.serveBinance(inbound, outbound, combined: false, initial: [], listenKey: nil, address: context.requestContext.clientIP, channel: context.requestContext.channel, limits: limits, privateEvents: privateEvents)
        }
        router.ws("ws/v1") { inbound, outbound, context in
            try await self.serveNative(inbound, outbound, address: context.requestContext.clientIP, channel: context.requestContext.channel, limits: limits, privateEvents: privateEvents)
        }
        router.ws("ws/{tail}") { inbound, outbound, context in
            // A stream name subscribes at connect; a listenKey streams its user's events;
            // anything else (ccxt's stream index) starts empty.
            let tail = context.requestContext.parameters.get("tail") ?? ""
            let isStream = MarketStream(name: tail) != nil
            try await self.serveBinance(
                inbound, outbound, combined: false, initial: isStream ? [tail] : [], listenKey: !isStream && tail.utf8.count == 60 ? tail : nil,
                address: context.requestContext.clientIP, channel: context.requestContext.channel, limits: limits, privateEvents: privateEvents)
        }
        router.ws("stream") { inbound, outbound, context in
            let names = context.request.uri.queryParameters.get("streams").map { $0.split(separator: "/").map(String.init) } ?? []
            try await self.serveBinance(inbound, outbound, combined: true, initial: names, listenKey: nil, address: context.requestContext.clientIP, channel: context.requestContext.channel, limits: limits, privateEvents: privateEvents)
        }
    }

    /// A Binance streams connection: `initial` streams, or a listenKey's user events.
    func serveBinance(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, combined: Bool, initial: [String], listenKey: String?,
        address: String, channel: any Channel, limits: MarketStreamLimits, privateEvents: (any PrivateEventSource)?
    ) async throws {
        try await serve(inbound, outbound, combined: combined, address: address, channel: channel, limits: limits, privateEvents: privateEvents) { connection in
            if let listenKey {
                guard let privateEvents, try await privateEvents.attach(listenKey: listenKey, to: connection) else { return "unknown listenKey" }
                connection.streams.withLock { $0.append(listenKey) }
            }
            return self.subscribe(initial, connection: connection, limits: limits)?.message
        } answer: { text, connection in
            await self.control(text, connection: connection, limits: limits, privateEvents: privateEvents)
        }
    }

    /// Serves one client until it leaves or is dropped: `setUp` runs first (a reason closes
    /// the connection with 1008), then a writer drains its queue while the reader answers
    /// each text frame through the same queue (so answers and data stay in order; nil: the
    /// answer queued its frames itself).
    /// Refused with a close frame (the upgrade's error statuses do not reach clients): 1013
    /// while catching up, 1008 over the address's connection limit; 1009 for a message over
    /// `maximumMessageBytes`.
    func serve(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, combined: Bool, address: String, channel: any Channel,
        limits: MarketStreamLimits, privateEvents: (any PrivateEventSource)?, setUp: (WebSocketOutbox) async throws -> String?,
        answer: (String, WebSocketOutbox) async -> String?
    ) async throws {
        guard isCaughtUp else {
            try await outbound.close(.unknown(1013), reason: "market data is catching up; retry shortly")
            return
        }
        let admitted = connectionCounts.withLock { counts in
            guard counts[address, default: 0] < limits.connectionsPerAddress else { return false }
            counts[address, default: 0] += 1
            return true
        }
        guard admitted else {
            try await outbound.close(.policyViolation, reason: "too many connections from this address")
            return
        }
        let connection = WebSocketOutbox(
            id: nextConnectionID.add(1, ordering: .relaxed).newValue, isCombined: combined, queueCapacity: limits.queueCapacity, channel: channel)
        defer {
            for name in connection.streams.withLock({ $0 }) where !Self.isListenKey(name) { fanout.unsubscribe(name, connection: connection) }
            privateEvents?.detach(connection)
            connectionCounts.withLock { counts in
                counts[address]! -= 1
                if counts[address] == 0 { counts[address] = nil }
            }
        }
        // Subscribed first (frames wait in the queue): the client already sees the connection
        // open and may be reading a depth snapshot, which the stream should follow.
        if let reason = try await setUp(connection) {
            try await outbound.close(.policyViolation, reason: reason)
            return
        }
        // What a client may leave unread outside its queue: the kernel's buffer, and as much again in NIO.
        try? await channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(limits.socketSendBufferBytes)).get()
        let highWater = max(limits.socketSendBufferBytes, 8_192)
        try? await channel.setOption(ChannelOptions.writeBufferWaterMark, value: .init(low: highWater / 2, high: highWater)).get()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.supervise(outbound) }
            defer { connection.finish() }
            for try await message in inbound.messages(maxSize: limits.maximumMessageBytes) {
                guard case .text(let text) = message else {
                    connection.send(Self.errorFrame(ControlError(code: 3, message: "Invalid JSON: binary frames are not accepted"), id: .null))
                    continue
                }
                // A compressed frame is measured by the library before inflating: measure again.
                guard text.utf8.count <= limits.maximumMessageBytes else {
                    connection.finish()
                    try await outbound.close(.messageTooLarge, reason: "control messages are at most \(limits.maximumMessageBytes) bytes")
                    break
                }
                if let reply = await answer(text, connection) { connection.send(reply) }
            }
            connection.finish()
            try await group.waitForAll()
        }
    }

    struct ControlFrame: Decodable {
        var method: String
        var params: [String]?
        var id: WebSocketRequestID?
    }

    /// Just the id of a frame that did not decode, to echo it in the error.
    struct ControlFrameID: Decodable {
        var id: WebSocketRequestID?
    }

    /// Whether `name` has a listenKey's shape (60 letters and digits) and is no stream.
    static func isListenKey(_ name: String) -> Bool {
        name.utf8.count == 60 && name.utf8.allSatisfy { UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 || UInt8(ascii: "A")...UInt8(ascii: "Z") ~= $0 || UInt8(ascii: "a")...UInt8(ascii: "z") ~= $0 }
    }

    /// Answers one control frame. A listenKey among SUBSCRIBE's names streams its user's
    /// events (binance-connector's `user_data`).
    func control(_ text: String, connection: WebSocketOutbox, limits: MarketStreamLimits, privateEvents: (any PrivateEventSource)?) async -> String {
        let bytes = Data(text.utf8)
        guard (try? JSONSerialization.jsonObject(with: bytes)) is [String: Any] else {
            return Self.errorFrame(ControlError(code: 3, message: "Invalid JSON: expected an object with method, params and id"), id: .null)
        }
        guard let frame = try? JSONDecoder().decode(ControlFrame.self, from: bytes) else {
            let id = (try? JSONDecoder().decode(ControlFrameID.self, from: bytes))?.id?.value ?? .null
            return Self.errorFrame(
                ControlError(code: 1, message: "Invalid value type: method must be a string, params an array of stream names, id an unsigned integer or a string of at most 36 characters"),
                id: id)
        }
        let id = frame.id?.value ?? .null
        let names = frame.params ?? []
        switch frame.method {
        case "SUBSCRIBE":
            let listenKeys = names.filter(Self.isListenKey)
            if let error = subscribe(names.filter { !Self.isListenKey($0) }, connection: connection, limits: limits) { return Self.errorFrame(error, id: id) }
            for listenKey in listenKeys where !connection.streams.withLock({ $0.contains(listenKey) }) {
                let attached = (try? await privateEvents?.attach(listenKey: listenKey, to: connection)) ?? false
                guard attached else { return Self.errorFrame(ControlError(code: 2, message: "Invalid request: unknown listenKey"), id: id) }
                connection.streams.withLock { $0.append(listenKey) }
            }
        case "UNSUBSCRIBE":
            let removed = connection.streams.withLock { streams in
                let removed = names.filter(streams.contains)
                streams.removeAll(where: names.contains)
                return removed
            }
            for name in removed where !Self.isListenKey(name) { fanout.unsubscribe(name, connection: connection) }
            if removed.contains(where: Self.isListenKey) { privateEvents?.detach(connection) }
        case "LIST_SUBSCRIPTIONS":
            return JSONValue.object([("result", .array(connection.streams.withLock { $0 }.map(JSONValue.string))), ("id", id)]).text
        default:
            return Self.errorFrame(ControlError(code: 2, message: "Invalid request: unknown method '\(frame.method.prefix(64))'"), id: id)
        }
        return JSONValue.object([("result", .null), ("id", id)]).text
    }

    /// Subscribes `names` (all or none): each must be a stream of a listed symbol, within the
    /// connection's limit.
    func subscribe(_ names: [String], connection: WebSocketOutbox, limits: MarketStreamLimits) -> ControlError? {
        var streams: [(String, MarketStream)] = []
        for name in names {
            guard let stream = MarketStream(name: name) else { return ControlError(code: 2, message: "Invalid request: unknown stream '\(name.prefix(64))'") }
            if let symbol = stream.symbol, !isListed(symbol) { return ControlError(code: 2, message: "Invalid request: unknown symbol in '\(name.prefix(64))'") }
            streams.append((name, stream))
        }
        let added = connection.streams.withLock { current -> [(String, MarketStream)]? in
            let new = streams.filter { !current.contains($0.0) }
            guard current.count + new.count <= limits.subscriptionsPerConnection else { return nil }
            current += new.map(\.0)
            return new
        }
        guard let added else {
            return ControlError(code: 2, message: "Invalid request: more than \(limits.subscriptionsPerConnection) streams on one connection")
        }
        for (name, stream) in added { fanout.subscribe(name, stream: stream, connection: connection) }
        return nil
    }

    static func errorFrame(_ error: ControlError, id: JSONValue) -> String {
        JSONValue.object([("error", .object([("code", .integer(Int64(error.code))), ("msg", .string(error.message))])), ("id", id)]).text
    }
}
