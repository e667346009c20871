import ExchangeHTTPAPI
import ExchangeMarketData
import NIOCore
import Synchronization

/// One WebSocket client's outbound side: a bounded queue of text frames, drained by the
/// connection's writer task. A frame that does not fit condemns the connection (the writer
/// closes it with the reason): a slow client never holds back the publisher or anyone else.
final class MarketConnection: Sendable {
    let id: UInt64
    /// Whether payloads are wrapped as `{"stream":…,"data":…}` (`/stream`).
    let isCombined: Bool
    let frames: AsyncStream<ByteBuffer>
    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let overflowed = Atomic<Bool>(false)
    /// The stream names subscribed, as the client spelled them, in subscription order.
    let streams = Mutex<[String]>([])

    init(id: UInt64, isCombined: Bool, queueCapacity: Int) {
        self.id = id
        self.isCombined = isCombined
        (frames, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(queueCapacity))
    }

    enum SendResult: Equatable {
        case queued
        /// The queue was full: this frame condemned the connection (it is finished).
        case overflowed
        /// The connection had already ended.
        case closed
    }

    /// Queues a frame.
    @discardableResult
    func send(_ frame: ByteBuffer) -> SendResult {
        switch continuation.yield(frame) {
        case .enqueued: return .queued
        case .dropped:
            guard !overflowed.exchange(true, ordering: .relaxed) else { return .closed }
            continuation.finish()
            return .overflowed
        case .terminated: return .closed
        @unknown default: return .closed
        }
    }

    @discardableResult
    func send(_ text: String) -> SendResult { send(ByteBuffer(string: text)) }

    var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// Ends the frame sequence (the client left).
    func finish() { continuation.finish() }
}

/// Who listens to which stream. Streams are keyed by name (`btcusdt@depth` and
/// `btcusdt@depth@1000ms` are two names of one content) and indexed by symbol, so the
/// publisher looks up only the streams of a symbol that changed.
final class StreamFanout: Sendable {
    struct Topic: Sendable {
        let stream: MarketStream
        var connections: [UInt64: MarketConnection] = [:]
    }

    /// The streams of one symbol (or of the whole market, key `""`) with their listeners.
    struct Listeners: Sendable {
        var name: String
        var stream: MarketStream
        var connections: [MarketConnection]
    }

    private struct State {
        var topics: [String: Topic] = [:]
        var namesBySymbol: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    /// Frames queued to clients, and clients dropped for falling behind (for metrics).
    let framesSent = Atomic<UInt64>(0)
    let slowClientsDropped = Atomic<UInt64>(0)

    func subscribe(_ name: String, stream: MarketStream, connection: MarketConnection) {
        state.withLock { state in
            state.topics[name, default: Topic(stream: stream)].connections[connection.id] = connection
            state.namesBySymbol[stream.symbol ?? "", default: []].insert(name)
        }
    }

    func unsubscribe(_ name: String, connection: MarketConnection) {
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
                return Listeners(name: name, stream: topic.stream, connections: Array(topic.connections.values))
            }
        }
    }

    /// Whether any stream of `symbol` has listeners.
    func hasListeners(_ symbol: String) -> Bool { state.withLock { !($0.namesBySymbol[symbol]?.isEmpty ?? true) } }

    /// Queues `payload` (one JSON document) to every listener of stream `name`: the raw
    /// bytes for `/ws` clients, wrapped once for `/stream` clients. Connections that overflow
    /// are counted.
    func deliver(_ payload: String, name: String, to connections: [MarketConnection]) {
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
            switch connection.send(frame) {
            case .queued: framesSent.add(1, ordering: .relaxed)
            case .overflowed: slowClientsDropped.add(1, ordering: .relaxed)
            case .closed: break
            }
        }
    }
}
