import ExchangeCore
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import Synchronization

/// A server text frame encoded once, header and payload (final, unmasked, uncompressed:
/// valid with or without permessage-deflate), so that every client it goes to shares one
/// buffer and the socket write needs no encoding per client.
public struct EncodedTextFrame: Sendable {
    public let bytes: ByteBuffer

    public init(_ payload: String) {
        let length = payload.utf8.count
        var bytes = ByteBuffer()
        bytes.reserveCapacity(length + 10)
        bytes.writeInteger(UInt8(0x81))  // FIN, opcode 1 (text)
        if length < 126 {
            bytes.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            bytes.writeInteger(UInt8(126))
            bytes.writeInteger(UInt16(length))
        } else {
            bytes.writeInteger(UInt8(127))
            bytes.writeInteger(UInt64(length))
        }
        bytes.writeString(payload)
        self.bytes = bytes
    }
}

/// One WebSocket client's outbound side. Frames go straight to the connection's socket side,
/// in batches (what one publication round has for the client), bounded by `capacity`: frames
/// handed over and not yet written to the socket. A batch that would pass it condemns the
/// connection (`supervise` closes it with the reason): a slow client never holds back the
/// publisher or anyone else.
///
/// Frames written here bypass the WebSocket library's writer (a task switch and an
/// event-loop hop per frame) and its frame encoder: they are `EncodedTextFrame`s written
/// below the encoder, ordered among themselves; the library's own frames (pings, pongs, the
/// close) interleave between them, each whole.
public final class WebSocketOutbox: Sendable {
    public let id: UInt64
    /// Whether payloads are wrapped as `{"stream":…,"data":…}` (`/stream`).
    public let isCombined: Bool
    /// Frames that may be handed over and not yet written.
    public let capacity: Int
    /// The stream names subscribed, as the client spelled them, in subscription order.
    public let streams = Mutex<[String]>([])
    private let channel: any Channel
    /// The frame encoder's context, found on the first write (frames are written below it).
    private let encoder: NIOLoopBoundBox<ChannelHandlerContext?>
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
        encoder = .makeEmptyBox(valueType: ChannelHandlerContext.self, eventLoop: channel.eventLoop)
        (overflowSignal, overflowContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public enum SendResult: Equatable, Sendable {
        case queued
        /// The outbox was full: this batch condemned the connection.
        case overflowed
        /// The connection had already ended.
        case closed
    }

    /// Hands frames to the channel, in order (none: nothing to do, `.queued`).
    @discardableResult
    public func send(_ frames: [EncodedTextFrame]) -> SendResult {
        var result = SendResult.queued
        Self.send([(self, frames)]) { outcome, _ in result = outcome }
        return result
    }

    @discardableResult
    public func send(_ text: String) -> SendResult { send([EncodedTextFrame(text)]) }

    /// Hands each outbox its frames, in order, with one event-loop task per event loop (not
    /// per client); `report` learns each delivery's result and its number of frames, on the
    /// caller's thread.
    public static func send(_ deliveries: [(outbox: WebSocketOutbox, frames: [EncodedTextFrame])], report: (SendResult, Int) -> Void) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, deliveries: [(outbox: WebSocketOutbox, frames: [EncodedTextFrame])])] = [:]
        for delivery in deliveries where !delivery.frames.isEmpty {
            let result = delivery.outbox.admit(delivery.frames.count)
            report(result, delivery.frames.count)
            guard result == .queued else { continue }
            let loop = delivery.outbox.channel.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].deliveries.append(delivery)
        }
        for (loop, admitted) in byLoop.values {
            loop.execute {
                for delivery in admitted { delivery.outbox.write(delivery.frames) }
            }
        }
    }

    /// Counts `count` frames in, or condemns the connection if they would pass the capacity.
    private func admit(_ count: Int) -> SendResult {
        guard !finished.load(ordering: .relaxed), !overflowed.load(ordering: .relaxed) else { return .closed }
        guard unwritten.add(count, ordering: .relaxed).newValue <= capacity else {
            guard !overflowed.exchange(true, ordering: .relaxed) else { return .closed }
            overflowContinuation.yield()
            overflowContinuation.finish()
            return .overflowed
        }
        return .queued
    }

    /// On the channel's event loop: writes admitted frames below the frame encoder and flushes;
    /// they count out when written (or failed, or the connection is gone).
    private func write(_ frames: [EncodedTextFrame]) {
        if self.encoder.value == nil { self.encoder.value = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) }
        guard let encoder = self.encoder.value else {
            unwritten.subtract(frames.count, ordering: .relaxed)
            return
        }
        for frame in frames.dropLast() { encoder.write(NIOAny(frame.bytes), promise: nil) }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in self.unwritten.subtract(frames.count, ordering: .relaxed) }
        encoder.write(NIOAny(frames.last!.bytes), promise: written)
        encoder.flush()
    }

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
