import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData
import Foundation
import HummingbirdWebSocket
import NIOCore

/// The design's native channels on `/ws/v1` (schema: docs/api.md, "Native WebSocket"):
/// `market.{SYMBOL}.depth` (a snapshot, then gap-free updates every 100 ms),
/// `market.{SYMBOL}.trades`, `market.{SYMBOL}.ticker` (every second with trades) and
/// `private.events` (the user's execution reports and balances; the subscribe request carries
/// the user's access token).
extension MarketDataHub {
    /// A client request: `{"op":"subscribe"|"unsubscribe"|"list"|"ping","id":…,"channels":[…],"token":…}`.
    struct NativeRequest: Decodable {
        var op: String
        var id: WebSocketRequestID?
        var channels: [String]?
        var token: String?
    }

    static let privateChannel = "private.events"
    /// Levels of each side in a depth snapshot.
    static let nativeSnapshotLevels = 1_000

    /// A market channel's stream: `market.{SYMBOL}.depth|trades|ticker`.
    static func nativeStream(_ channel: String) -> MarketStream? {
        let parts = channel.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "market" else { return nil }
        let symbol = String(parts[1])
        switch parts[2] {
        case "depth": return .depth(symbol: symbol, speed: .fast)
        case "trades": return .trade(symbol: symbol)
        case "ticker": return .ticker(symbol: symbol)
        default: return nil
        }
    }

    func serveNative(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, address: String, channel: any Channel, limits: MarketStreamLimits,
        privateEvents: (any PrivateEventSource)?
    ) async throws {
        try await serve(inbound, outbound, combined: false, address: address, channel: channel, limits: limits, privateEvents: privateEvents) { _ in nil } answer: { text, connection in
            await self.nativeAnswer(text, connection: connection, limits: limits, privateEvents: privateEvents)
        }
    }

    static func nativeError(_ id: JSONValue, _ code: String, _ message: String) -> String {
        JSONValue.object([("op", "error"), ("id", id), ("code", .string(code)), ("message", .string(message))]).text
    }

    func nativeAnswer(_ text: String, connection: WebSocketOutbox, limits: MarketStreamLimits, privateEvents: (any PrivateEventSource)?) async -> String? {
        guard let request = try? JSONDecoder().decode(NativeRequest.self, from: Data(text.utf8)) else {
            return Self.nativeError(.null, "invalid_request", "expected {\"op\",\"id\",\"channels\"} with op subscribe, unsubscribe, list or ping")
        }
        let id = request.id?.value ?? .null
        let channels = request.channels ?? []
        switch request.op {
        case "ping":
            return JSONValue.object([("op", "pong"), ("id", id)]).text
        case "list":
            return JSONValue.object([("op", "list"), ("id", id), ("channels", .array(connection.streams.withLock { $0 }.map(JSONValue.string)))]).text
        case "subscribe":
            var market: [(String, MarketStream)] = []
            for channel in channels where channel != Self.privateChannel {
                guard let stream = Self.nativeStream(channel) else { return Self.nativeError(id, "unknown_channel", "unknown channel '\(channel.prefix(64))'") }
                guard isListed(stream.symbol!) else { return Self.nativeError(id, "unknown_symbol", "unknown symbol in '\(channel.prefix(64))'") }
                market.append((channel, stream))
            }
            let wantsPrivate = channels.contains(Self.privateChannel)
            let fits = connection.streams.withLock { current in
                current.count + Set(channels).subtracting(current).count <= limits.subscriptionsPerConnection
            }
            guard fits else { return Self.nativeError(id, "too_many_channels", "more than \(limits.subscriptionsPerConnection) channels on one connection") }
            if wantsPrivate, !connection.streams.withLock({ $0.contains(Self.privateChannel) }) {
                guard let privateEvents else { return Self.nativeError(id, "unavailable", "private channels are served on the gateway's address") }
                guard let token = request.token else { return Self.nativeError(id, "unauthorized", "private.events needs the user's access token in \"token\"") }
                do {
                    _ = try await privateEvents.attach(accessToken: token, to: connection)
                } catch {
                    return Self.nativeError(id, "unauthorized", "invalid or expired access token")
                }
                connection.streams.withLock { $0.append(Self.privateChannel) }
            }
            // The acknowledgement first, then each depth channel's snapshot.
            connection.send(JSONValue.object([("op", "subscribed"), ("id", id), ("channels", .array(channels.map(JSONValue.string)))]).text)
            for (channel, stream) in market where !connection.streams.withLock({ $0.contains(channel) }) {
                connection.streams.withLock { $0.append(channel) }
                guard case .depth(let symbol, _) = stream else {
                    fanout.subscribe(channel, stream: stream, isNative: true, connection: connection)
                    continue
                }
                // The snapshot and the subscription under the board's lock: the first update
                // after it starts at or below its update id + 1.
                board.withLock { board in
                    guard let entry = board.symbols[symbol] else { return }
                    connection.send(MarketPayload.native(channel, "snapshot", MarketPayload.nativeSnapshot(entry.market.book, limit: Self.nativeSnapshotLevels, entry.format)))
                    fanout.subscribe(channel, stream: stream, isNative: true, connection: connection)
                }
            }
            return nil
        case "unsubscribe":
            for channel in channels {
                let removed = connection.streams.withLock { streams in
                    defer { streams.removeAll { $0 == channel } }
                    return streams.contains(channel)
                }
                guard removed else { continue }
                if channel == Self.privateChannel { privateEvents?.detach(connection) } else { fanout.unsubscribe(channel, connection: connection) }
            }
            return JSONValue.object([("op", "unsubscribed"), ("id", id), ("channels", .array(channels.map(JSONValue.string)))]).text
        default:
            return Self.nativeError(id, "invalid_request", "unknown op '\(request.op.prefix(32))'")
        }
    }
}
