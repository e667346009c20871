import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// One WebSocket client's outbound side: a bounded queue of text frames, drained by the
/// connection's writer task. A frame that does not fit condemns the connection (the writer
/// closes it with the reason): a slow client never holds back the publisher or anyone else.
public final class WebSocketOutbox: Sendable {
    public let id: UInt64
    /// Whether payloads are wrapped as `{"stream":…,"data":…}` (`/stream`).
    public let isCombined: Bool
    public let frames: AsyncStream<ByteBuffer>
    private let continuation: AsyncStream<ByteBuffer>.Continuation
    private let overflowed = Atomic<Bool>(false)
    /// Frames that may wait in the queue.
    public let capacity: Int
    /// The stream names subscribed, as the client spelled them, in subscription order.
    public let streams = Mutex<[String]>([])

    public init(id: UInt64, isCombined: Bool = false, queueCapacity: Int) {
        self.id = id
        capacity = queueCapacity
        self.isCombined = isCombined
        (frames, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(queueCapacity))
    }

    public enum SendResult: Equatable, Sendable {
        case queued
        /// The queue was full: this frame condemned the connection (it is finished).
        case overflowed
        /// The connection had already ended.
        case closed
    }

    /// Queues a frame.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> SendResult {
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
    public func send(_ text: String) -> SendResult { send(ByteBuffer(string: text)) }

    public var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// Ends the frame sequence (the client left).
    public func finish() { continuation.finish() }

    /// Writes queued frames to `outbound` until the queue ends. If it ended because the client
    /// fell behind: a close frame with 1008 and the reason, and `channel` closed outright
    /// after a second if that frame could not go out (a client that reads nothing).
    public func drain(into outbound: WebSocketOutboundWriter, channel: any Channel) async throws {
        for await frame in frames {
            try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: frame)))
        }
        guard hasOverflowed else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await outbound.close(.policyViolation, reason: "slow consumer: more than \(self.capacity) messages queued") }
            group.addTask { try? await Task.sleep(for: .seconds(1)) }
            await group.next()
            channel.close(promise: nil)
            group.cancelAll()
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
