import ExchangeCore
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// One WebSocket client's outbound side. Frames go straight to the connection's channel, in
/// batches (what one publication round has for the client: one event-loop task, one flush),
/// bounded by `capacity`: frames handed over and not yet written to the socket. A batch that
/// would pass it condemns the connection (`supervise` closes it with the reason): a slow client
/// never holds back the publisher or anyone else.
///
/// Frames written here bypass the WebSocket library's writer (which costs a task switch and an
/// event-loop hop per frame); they are whole text frames, unmasked and uncompressed (valid with
/// or without permessage-deflate), ordered among themselves; the library's own frames (pings,
/// pongs, the close) interleave between them.
public final class WebSocketOutbox: Sendable {
    public let id: UInt64
    /// Whether payloads are wrapped as `{"stream":…,"data":…}` (`/stream`).
    public let isCombined: Bool
    /// Frames that may be handed over and not yet written.
    public let capacity: Int
    /// The stream names subscribed, as the client spelled them, in subscription order.
    public let streams = Mutex<[String]>([])
    private let channel: any Channel
    /// Frames handed to the channel and not yet written. Invariant: at most `capacity` unless
    /// overflowed.
    private let unwritten = Atomic<Int>(0)
    private let overflowed = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// Yields once when the outbox overflows; finishes when it does or ends.
    private let overflowSignal: AsyncStream<Void>
    private let overflowContinuation: AsyncStream<Void>.Continuation

    public init(id: UInt64, isCombined: Bool = false, queueCapacity: Int, channel: any Channel) {
        self.id = id
        capacity = queueCapacity
        self.isCombined = isCombined
        self.channel = channel
        (overflowSignal, overflowContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public enum SendResult: Equatable, Sendable {
        case queued
        /// The outbox was full: this batch condemned the connection.
        case overflowed
        /// The connection had already ended.
        case closed
    }

    /// Hands frames to the channel, in order.
    @discardableResult
    public func send(_ frames: [ByteBuffer]) -> SendResult {
        guard let last = frames.last else { return .queued }
        guard !finished.load(ordering: .relaxed), !overflowed.load(ordering: .relaxed) else { return .closed }
        guard unwritten.add(frames.count, ordering: .relaxed).newValue <= capacity else {
            guard !overflowed.exchange(true, ordering: .relaxed) else { return .closed }
            overflowContinuation.yield()
            overflowContinuation.finish()
            return .overflowed
        }
        let channel = self.channel
        channel.eventLoop.execute {
            for frame in frames.dropLast() { channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: nil) }
            let written = channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in self.unwritten.subtract(frames.count, ordering: .relaxed) }
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: last), promise: written)
        }
        return .queued
    }

    @discardableResult
    public func send(_ text: String) -> SendResult { send([ByteBuffer(string: text)]) }

    public var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// The client left: nothing more is sent.
    public func finish() {
        finished.store(true, ordering: .relaxed)
        overflowContinuation.finish()
    }

    /// Until the outbox ends: if it overflows (the client fell behind), a close frame with
    /// 1008 and the reason, and the channel closed outright after a second if that frame
    /// could not go out (a client that reads nothing).
    public func supervise(_ outbound: WebSocketOutboundWriter) async {
        for await _ in overflowSignal {
            await withTaskGroup(of: Void.self) { closing in
                closing.addTask { try? await outbound.close(.policyViolation, reason: "slow consumer: more than \(self.capacity) messages queued") }
                closing.addTask { try? await Task.sleep(for: .seconds(1)) }
                await closing.next()
                channel.close(promise: nil)
                closing.cancelAll()
            }
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
