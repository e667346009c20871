import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// One WebSocket client's outbound side: a bounded queue of text frames, drained by the
/// connection's writer task. Frames go in batches (what one publication round has for the
/// client: one wake-up of the writer, one flush of the socket under load). A batch that
/// would take the queue past `capacity` frames condemns the connection (the writer closes
/// it with the reason): a slow client never holds back the publisher or anyone else.
public final class WebSocketOutbox: Sendable {
    public let id: UInt64
    /// Whether payloads are wrapped as `{"stream":…,"data":…}` (`/stream`).
    public let isCombined: Bool
    private let batches: AsyncStream<[ByteBuffer]>
    private let continuation: AsyncStream<[ByteBuffer]>.Continuation
    private let overflowed = Atomic<Bool>(false)
    /// Yields once when the queue overflows; finishes when the outbox does.
    private let overflowSignal: AsyncStream<Void>
    private let overflowContinuation: AsyncStream<Void>.Continuation
    /// Frames queued and not yet written. Invariant: at most `capacity` unless overflowed.
    private let queued = Atomic<Int>(0)
    /// Frames that may wait in the queue.
    public let capacity: Int
    /// The stream names subscribed, as the client spelled them, in subscription order.
    public let streams = Mutex<[String]>([])

    public init(id: UInt64, isCombined: Bool = false, queueCapacity: Int) {
        self.id = id
        capacity = queueCapacity
        self.isCombined = isCombined
        (batches, continuation) = AsyncStream.makeStream(of: [ByteBuffer].self, bufferingPolicy: .unbounded)
        (overflowSignal, overflowContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public enum SendResult: Equatable, Sendable {
        case queued
        /// The queue was full: this batch condemned the connection (it is finished).
        case overflowed
        /// The connection had already ended.
        case closed
    }

    /// Queues frames, in order.
    @discardableResult
    public func send(_ frames: [ByteBuffer]) -> SendResult {
        guard !overflowed.load(ordering: .relaxed) else { return .closed }
        guard queued.add(frames.count, ordering: .relaxed).newValue <= capacity else {
            guard !overflowed.exchange(true, ordering: .relaxed) else { return .closed }
            continuation.finish()
            overflowContinuation.yield()
            overflowContinuation.finish()
            return .overflowed
        }
        if case .terminated = continuation.yield(frames) { return .closed }
        return .queued
    }

    @discardableResult
    public func send(_ text: String) -> SendResult { send([ByteBuffer(string: text)]) }

    public var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// Ends the frame sequence (the client left).
    public func finish() {
        continuation.finish()
        overflowContinuation.finish()
    }

    /// Writes queued frames to `outbound` until the queue ends. If it overflows (the client
    /// fell behind), writing stops at once: a close frame with 1008 and the reason, and
    /// `channel` closed outright after a second if that frame could not go out (a client
    /// that reads nothing leaves writes pending forever).
    public func drain(into outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await batch in self.batches {
                    for frame in batch { try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: frame))) }
                    self.queued.subtract(batch.count, ordering: .relaxed)
                }
            }
            group.addTask {
                for await _ in self.overflowSignal {
                    await withTaskGroup(of: Void.self) { closing in
                        closing.addTask { try? await outbound.close(.policyViolation, reason: "slow consumer: more than \(self.capacity) messages queued") }
                        closing.addTask { try? await Task.sleep(for: .seconds(1)) }
                        await closing.next()
                        channel.close(promise: nil)
                        closing.cancelAll()
                    }
                }
            }
            // Both end: the writer when the queue ends (or its channel closes), the watcher when the outbox finishes.
            try await group.next()
            try await group.waitForAll()
        }
    }
}

/// A WebSocket request's id as Binance accepts it: an unsigned integer, a string of at most
/// 36 characters, or null; echoed verbatim (same JSON type) in the answer.
public struct WebSocketRequestID: Decodable, Sendable {
    public var value: JSONValue

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let number = try? container.decode(UInt64.self) {
            value = .unsigned(number)
        } else {
            let text = try container.decode(String.self)
            guard text.count <= 36 else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "id longer than 36") }
            value = .string(text)
        }
    }
}

/// A request context that keeps its connection's channel (to close a stalled WebSocket).
public protocol ChannelRequestContext {
    var channel: any Channel { get }
}
