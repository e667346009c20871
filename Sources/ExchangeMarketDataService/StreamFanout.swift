import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData
import NIOCore
import Synchronization

/// Who listens to which stream. Streams are keyed by name (`btcusdt@depth` and
/// `btcusdt@depth@1000ms` are two names of one content) and indexed by symbol, so the
/// publisher looks up only the streams of a symbol that changed.
final class StreamFanout: Sendable {
    struct Topic: Sendable {
        let stream: MarketStream
        /// A native `/ws/v1` channel (`market.{symbol}.…`): its own payloads.
        let isNative: Bool
        var connections: [UInt64: WebSocketOutbox] = [:]
    }

    /// The streams of one symbol (or of the whole market, key `""`) with their listeners.
    struct Listeners: Sendable {
        var name: String
        var stream: MarketStream
        var isNative: Bool
        var connections: [WebSocketOutbox]
    }

    private struct State {
        var topics: [String: Topic] = [:]
        var namesBySymbol: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    /// Frames queued to clients, and clients dropped for falling behind (for metrics).
    let framesSent = Atomic<UInt64>(0)
    let slowClientsDropped = Atomic<UInt64>(0)

    func subscribe(_ name: String, stream: MarketStream, isNative: Bool = false, connection: WebSocketOutbox) {
        state.withLock { state in
            state.topics[name, default: Topic(stream: stream, isNative: isNative)].connections[connection.id] = connection
            state.namesBySymbol[stream.symbol ?? "", default: []].insert(name)
        }
    }

    func unsubscribe(_ name: String, connection: WebSocketOutbox) {
        state.withLock { state in
            guard var topic = state.topics[name] else { return }
            topic.connections[connection.id] = nil
            if topic.connections.isEmpty {
                state.topics[name] = nil
                state.namesBySymbol[topic.stream.symbol ?? ""]?.remove(name)
            } else {
                state.topics[name] = topic
            }
        }
    }

    /// The streams of `symbol` (`""`: the all-market ones) that have listeners.
    func listeners(of symbol: String) -> [Listeners] {
        state.withLock { state in
            (state.namesBySymbol[symbol] ?? []).compactMap { name in
                guard let topic = state.topics[name], !topic.connections.isEmpty else { return nil }
                return Listeners(name: name, stream: topic.stream, isNative: topic.isNative, connections: Array(topic.connections.values))
            }
        }
    }

    /// Whether any stream of `symbol` has listeners.
    func hasListeners(_ symbol: String) -> Bool { state.withLock { !($0.namesBySymbol[symbol]?.isEmpty ?? true) } }

    /// Frames for several clients, gathered over one publication round and sent at its end,
    /// each client's in the order they were added.
    struct Batch {
        fileprivate var frames: [UInt64: (outbox: WebSocketOutbox, frames: [ByteBuffer])] = [:]

        var isEmpty: Bool { frames.isEmpty }

        /// Adds `payload` (one JSON document) for every listener of stream `name`: the raw
        /// bytes for `/ws` clients, wrapped once for `/stream` clients.
        mutating func add(_ payload: String, name: String, to connections: [WebSocketOutbox]) {
            var raw: ByteBuffer?
            var combined: ByteBuffer?
            for connection in connections {
                let frame: ByteBuffer
                if connection.isCombined {
                    if combined == nil {
                        var wrapped = "{\"stream\":"
                        JSONValue.writeString(name, into: &wrapped)
                        wrapped += ",\"data\":" + payload + "}"
                        combined = ByteBuffer(string: wrapped)
                    }
                    frame = combined!
                } else {
                    if raw == nil { raw = ByteBuffer(string: payload) }
                    frame = raw!
                }
                frames[connection.id, default: (connection, [])].frames.append(frame)
            }
        }
    }

    /// Sends a round's frames; connections that overflow are counted.
    func send(_ batch: Batch) {
        for (outbox, frames) in batch.frames.values {
            switch outbox.send(frames) {
            case .queued: framesSent.add(UInt64(frames.count), ordering: .relaxed)
            case .overflowed: slowClientsDropped.add(1, ordering: .relaxed)
            case .closed: break
            }
        }
    }
}
