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
        /// Its listeners, in subscription order. Invariant: no id twice.
        var connections: [WebSocketOutbox] = []
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
            var topic = state.topics.removeValue(forKey: name) ?? Topic(stream: stream, isNative: isNative)
            if !topic.connections.contains(where: { $0 === connection }) { topic.connections.append(connection) }
            state.topics[name] = topic
            state.namesBySymbol[stream.symbol ?? "", default: []].insert(name)
        }
    }

    func unsubscribe(_ name: String, connection: WebSocketOutbox) {
        state.withLock { state in
            guard var topic = state.topics[name] else { return }
            topic.connections.removeAll { $0 === connection }
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
                return Listeners(name: name, stream: topic.stream, isNative: topic.isNative, connections: topic.connections)
            }
        }
    }

    /// Whether any stream of `symbol` has listeners.
    func hasListeners(_ symbol: String) -> Bool { state.withLock { !($0.namesBySymbol[symbol]?.isEmpty ?? true) } }

    /// Frames for several clients, gathered over one publication round and sent at its end,
    /// each client's in the order they were added.
    struct Batch {
        fileprivate var frames: [UInt64: (outbox: WebSocketOutbox, frames: [EncodedTextFrame])] = [:]

        var isEmpty: Bool { frames.isEmpty }

        /// Adds `payload` (one JSON document) for every listener of stream `name`: one frame
        /// of the raw document for `/ws` clients, one of it wrapped for `/stream` clients,
        /// each encoded once and shared.
        mutating func add(_ payload: String, name: String, to connections: [WebSocketOutbox]) {
            var raw: EncodedTextFrame?
            var combined: EncodedTextFrame?
            for connection in connections {
                let frame: EncodedTextFrame
                if connection.isCombined {
                    if combined == nil {
                        var wrapped = "{\"stream\":"
                        JSONValue.writeString(name, into: &wrapped)
                        wrapped += ",\"data\":" + payload + "}"
                        combined = EncodedTextFrame(wrapped)
                    }
                    frame = combined!
                } else {
                    if raw == nil { raw = EncodedTextFrame(payload) }
                    frame = raw!
                }
                frames[connection.id, default: (connection, [])].frames.append(frame)
            }
        }
    }

    /// Sends a round's frames (one event-loop task per event loop); connections that
    /// overflow are counted.
    func send(_ batch: Batch) {
        guard !batch.isEmpty else { return }
        var sent: UInt64 = 0
        var dropped: UInt64 = 0
        WebSocketOutbox.send(Array(batch.frames.values)) { result, frames in
            switch result {
            case .queued: sent += UInt64(frames)
            case .overflowed: dropped += 1
            case .closed: break
            }
        }
        framesSent.add(sent, ordering: .relaxed)
        if dropped > 0 { slowClientsDropped.add(dropped, ordering: .relaxed) }
    }
}
