import AsyncHTTPClient
import ExchangeBench
import ExchangeCore
import ExchangeOrderFlow
import ExchangeRedis
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// `exchange bench marketdata`: feeds a generated flow into a running cluster, phase after
/// phase at set command rates, while `clients` WebSocket clients of a running market-data
/// instance each listen to the `@trade` streams of `streamsPerClient` symbols (every symbol
/// has the same number of listeners). Measures messages delivered per second and the latency
/// of each from its trade's output append time in Redis (the event's `E`, in ms) to its
/// receipt, per phase and over time. A phase may add a stalled client: one that subscribes to
/// every symbol's trades and never reads, which the server must drop without the others
/// noticing.
///
/// The latency's resolution is the millisecond of `E`: each figure is overstated by 0 to 1 ms
/// (the append's sub-millisecond part is unknown), never understated.
public struct MarketDataBenchmark: Sendable {
    public struct Phase: Sendable {
        public var label: String
        /// Flow lines (commands) per second fed.
        public var rate: Double
        public var seconds: Double
        public var withStalledClient: Bool

        public init(label: String, rate: Double, seconds: Double, withStalledClient: Bool) {
            self.label = label
            self.rate = rate
            self.seconds = seconds
            self.withStalledClient = withStalledClient
        }
    }

    public struct PhaseResult: Sendable {
        public var phase: Phase
        public var messages: Int
        /// From the phase's first append to its last, in seconds.
        public var seconds: Double
        public var messagesPerSecond: Double { Double(messages) / max(seconds, 0.001) }
        public var latenciesMicroseconds: [UInt64]
        /// Whether the stalled client was disconnected by the server during the phase.
        public var stalledClientDropped: Bool?
    }

    public struct Result: Sendable {
        public var phases: [PhaseResult]
        /// Per second since the first phase started: messages received, and latency p50/p99 (µs).
        public var messagesPerSecond: [Int]
        public var latencyOverTime: [LatencyOverTime.Sample]
        /// Clients that lost their connection (the stalled one aside), by close code (-1: not
        /// closed by the server).
        public var clientsDisconnected: [Int: Int]
    }

    public let feeder: FlowFeeder
    /// The market-data instance, `http://host:port`.
    public let marketData: String
    public let symbols: Int
    public let clients: Int
    public let streamsPerClient: Int
    public let seed: UInt64

    public init(feeder: FlowFeeder, marketData: String, symbols: Int, clients: Int, streamsPerClient: Int, seed: UInt64) {
        self.feeder = feeder
        self.marketData = marketData
        self.symbols = symbols
        self.clients = clients
        self.streamsPerClient = streamsPerClient
        self.seed = seed
    }

    /// What the clients receive: per message its receipt time and latency (µs), recorded under
    /// a lock per client (each client its own, so clients never contend).
    final class Receipts: Sendable {
        let samples = Mutex<[(receivedAt: UInt64, latency: UInt64)]>([])
        /// Messages received, for the quiet wait between phases.
        let received = Atomic<Int>(0)
        let connected = Atomic<Bool>(false)
        /// The close code the server sent, or -1 for a connection that failed otherwise.
        let closeCode = Atomic<Int>(0)
        let ended = Atomic<Bool>(false)
    }

    static func nowMicroseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000
    }

    /// What precedes the event time in a market stream frame.
    static let eventTimeMarker: [UInt8] = Array("\"E\":".utf8)

    /// The event time `E` (ms) of a market stream frame, read without parsing the JSON.
    static func eventTime(_ buffer: ByteBuffer) -> UInt64? {
        buffer.withUnsafeReadableBytes { bytes -> UInt64? in
            let marker = eventTimeMarker
            guard bytes.count > marker.count else { return nil }
            var index = 0
            while index + marker.count < bytes.count {
                if bytes[index] == marker[0], bytes[index + 1] == marker[1], bytes[index + 2] == marker[2], bytes[index + 3] == marker[3] {
                    var value: UInt64 = 0
                    var cursor = index + marker.count
                    while cursor < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[cursor]) {
                        value = value * 10 + UInt64(bytes[cursor] - UInt8(ascii: "0"))
                        cursor += 1
                    }
                    return value
                }
                index += 1
            }
            return nil
        }
    }

    /// Runs `phases`, then the phases `followUp` chooses from their results (at most
    /// `followUpCommands` commands in all), over one flow and one set of clients.
    public func run(
        phases: [Phase], followUpCommands: Int, followUp: ([PhaseResult]) -> [Phase], progress: @escaping @Sendable (String) -> Void
    ) async throws -> Result {
        let total = phases.reduce(0) { $0 + Int($1.rate * $1.seconds) } + followUpCommands
        let flow = SyntheticOrderFlow.generate(.init(symbolCount: symbols, commandCount: total, seed: seed, activity: .uniform))
        let placements = try await feeder.registerSymbols(of: flow)
        let names = flow.symbols.map(\.name)
        try await waitUntilListed(names)
        progress("marketdata bench: \(names.count) symbols listed; connecting \(clients) clients")
        let receipts = (0..<clients).map { _ in Receipts() }
        let base = marketData.replacingOccurrences(of: "http://", with: "ws://")
        guard let url = URL(string: marketData), let host = url.host, let port = url.port else { throw MarketDataBenchmarkError.badURL(marketData) }
        var channels: [any Channel] = []
        for client in 0..<clients {
            let streams = (0..<streamsPerClient).map { names[(client * streamsPerClient + $0) % names.count].lowercased() + "@trade" }
            channels.append(try await BenchStreamClient.connect(
                host: host, port: port, path: "/stream?streams=" + streams.joined(separator: "/"), receipts: receipts[client]))
        }
        defer { for channel in channels { channel.close(promise: nil) } }
        let deadline = ContinuousClock.now + .seconds(60)
        while receipts.contains(where: { !$0.connected.load(ordering: .relaxed) }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let connected = receipts.filter { $0.connected.load(ordering: .relaxed) }.count
        guard connected == clients else { throw MarketDataBenchmarkError.notConnected(connected, of: clients) }
        progress("marketdata bench: \(clients) clients connected")
        try await Task.sleep(for: .seconds(1))
        var windows: [(phase: Phase, start: UInt64, end: UInt64, stalled: StalledClient?)] = []
        var line = 0
        var queue = phases
        var followed = false
        while !queue.isEmpty || !followed {
            if queue.isEmpty {
                // The ramp is over: measure it so far, then run what it calls for.
                followed = true
                queue = followUp(Self.results(of: windows, receipts: receipts))
                continue
            }
            let phase = queue.removeFirst()
            let count = Int(phase.rate * phase.seconds)
            let slice = OrderFlow(symbols: flow.symbols, entries: Array(flow.entries[line..<min(line + count, flow.entries.count)]))
            line += count
            let stalled = phase.withStalledClient ? try StalledClient(marketData: marketData, streams: names.map { $0.lowercased() + "@trade" }) : nil
            let start = Self.nowMicroseconds()
            progress("marketdata bench: \(phase.label): \(count) commands at \(Int(phase.rate))/s")
            try await feeder.feed(slice, rate: phase.rate, placements: placements)
            // The phase ends when its last messages arrived: no message for half a second.
            var last = -1
            let drainDeadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < drainDeadline {
                try await Task.sleep(for: .milliseconds(500))
                let now = receipts.reduce(0) { $0 + $1.received.load(ordering: .relaxed) }
                if now == last { break }
                last = now
            }
            windows.append((phase, start, Self.nowMicroseconds(), stalled))
        }
        var disconnected: [Int: Int] = [:]
        for tally in receipts where tally.ended.load(ordering: .relaxed) { disconnected[tally.closeCode.load(ordering: .relaxed), default: 0] += 1 }
        let results = Self.results(of: windows, receipts: receipts)
        for window in windows { window.stalled?.close() }
        let all = Self.samples(receipts)
        let origin = windows.first?.start ?? 0
        var perSecond: [Int] = []
        for sample in all where sample.receivedAt >= origin {
            let second = Int((sample.receivedAt - origin) / 1_000_000)
            while perSecond.count <= second { perSecond.append(0) }
            perSecond[second] += 1
        }
        return Result(
            phases: results, messagesPerSecond: perSecond,
            latencyOverTime: all.filter { $0.receivedAt >= origin }.map { .init(appendedAt: $0.receivedAt - origin, latency: $0.latency, weight: 1) },
            clientsDisconnected: disconnected)
    }

    static func samples(_ receipts: [Receipts]) -> [(receivedAt: UInt64, latency: UInt64)] {
        var all: [(receivedAt: UInt64, latency: UInt64)] = []
        for tally in receipts { all += tally.samples.withLock { $0 } }
        return all.sorted { $0.receivedAt < $1.receivedAt }
    }

    /// Each phase's messages: those received from its start until its deliveries went quiet;
    /// its rate over that time (the feed's and the drain's).
    static func results(of windows: [(phase: Phase, start: UInt64, end: UInt64, stalled: StalledClient?)], receipts: [Receipts]) -> [PhaseResult] {
        let all = samples(receipts)
        return windows.map { window in
            let inWindow = all.filter { $0.receivedAt >= window.start && $0.receivedAt < window.end }
            let lastReceipt = inWindow.last?.receivedAt ?? window.end
            return PhaseResult(
                phase: window.phase, messages: inWindow.count, seconds: Double(lastReceipt - window.start) / 1_000_000,
                latenciesMicroseconds: inWindow.map(\.latency), stalledClientDropped: window.stalled.map { $0.wasDropped() })
        }
    }

    /// Waits until the market-data instance lists every symbol (`GET /api/v3/ticker/price`).
    func waitUntilListed(_ names: [String]) async throws {
        let wanted = Set(names)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: marketData + "/api/v3/ticker/price"), timeout: .seconds(10))
            if let response, response.status == .ok {
                let body = try await response.body.collect(upTo: 64 << 20)
                if let rows = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [[String: Any]],
                   wanted.isSubset(of: Set(rows.compactMap { $0["symbol"] as? String })) {
                    return
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw MarketDataBenchmarkError.notListed
    }
}

/// A stream client that costs the load generator little: NIO handlers on the event loop (no
/// task per message), the WebSocket handshake written by hand, frames read straight from the
/// socket's bytes (no frame objects), `E` scanned without parsing, pings answered.
enum BenchStreamClient {
    static func connect(host: String, port: Int, path: String, receipts: MarketDataBenchmark.Receipts) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handshake(receipts: receipts)) }
            }
            .connect(host: host, port: port).get()
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request))
        return channel
    }

    /// Reads the HTTP answer; on 101 swaps itself for the frame tally.
    final class Handshake: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let receipts: MarketDataBenchmark.Receipts
        var head = ByteBuffer()

        init(receipts: MarketDataBenchmark.Receipts) { self.receipts = receipts }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            head.writeBuffer(&bytes)
            guard let text = head.getString(at: head.readerIndex, length: head.readableBytes), let end = text.range(of: "\r\n\r\n") else { return }
            guard text.hasPrefix("HTTP/1.1 101") else {
                receipts.closeCode.store(-1, ordering: .relaxed)
                context.close(promise: nil)
                return
            }
            let headLength = text.utf8.distance(from: text.startIndex, to: end.upperBound)
            head.moveReaderIndex(forwardBy: headLength)
            do {
                try context.pipeline.syncOperations.addHandler(FrameTally(receipts: receipts), position: .after(self))
            } catch {
                context.close(promise: nil)
                return
            }
            receipts.connected.store(true, ordering: .relaxed)
            if head.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(head)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// Takes the server's frames (RFC 6455 §5.2; unmasked, whole) out of the socket's bytes:
    /// records each text frame's latency (a read's frames share its receipt time), answers
    /// pings with masked pongs, notes the close code.
    final class FrameTally: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let receipts: MarketDataBenchmark.Receipts
        /// Bytes received and not yet a whole frame.
        var pending = ByteBuffer()

        init(receipts: MarketDataBenchmark.Receipts) { self.receipts = receipts }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            if pending.readableBytes == 0 { pending = bytes } else { pending.writeBuffer(&bytes) }
            let received = MarketDataBenchmark.nowMicroseconds()
            var latencies: [UInt64] = []
            while let (opcode, payload) = nextFrame() {
                switch opcode {
                case 0x1:
                    if let eventTime = MarketDataBenchmark.eventTime(payload) { latencies.append(received.saturatingSubtract(eventTime * 1_000)) }
                case 0x9:
                    context.writeAndFlush(wrapOutboundOut(Self.maskedPong(payload)), promise: nil)
                case 0x8:
                    var body = payload
                    receipts.closeCode.store(body.readInteger(as: UInt16.self).map { Int($0) } ?? 0, ordering: .relaxed)
                    context.close(promise: nil)
                    return
                default:
                    break
                }
            }
            guard !latencies.isEmpty else { return }
            // The client's own lock: uncontended, taken on its event loop.
            receipts.samples.withLock { samples in for latency in latencies { samples.append((received, latency)) } }
            receipts.received.add(latencies.count, ordering: .relaxed)
        }

        func channelInactive(context: ChannelHandlerContext) {
            receipts.ended.store(true, ordering: .relaxed)
            context.fireChannelInactive()
        }

        /// The next whole frame's opcode and payload, taken from `pending`; nil until one has
        /// arrived whole.
        func nextFrame() -> (opcode: UInt8, payload: ByteBuffer)? {
            let start = pending.readerIndex
            guard let first = pending.getInteger(at: start, as: UInt8.self), let second = pending.getInteger(at: start + 1, as: UInt8.self) else { return nil }
            var header = 2
            var length = Int(second & 0x7F)
            if length == 126 {
                guard let extended = pending.getInteger(at: start + 2, as: UInt16.self) else { return nil }
                (header, length) = (4, Int(extended))
            } else if length == 127 {
                guard let extended = pending.getInteger(at: start + 2, as: UInt64.self) else { return nil }
                (header, length) = (10, Int(extended))
            }
            guard pending.readableBytes >= header + length else { return nil }
            pending.moveReaderIndex(forwardBy: header)
            return (first & 0x0F, pending.readSlice(length: length)!)
        }

        /// A pong echoing `payload`, masked as a client's frames must be.
        static func maskedPong(_ payload: ByteBuffer) -> ByteBuffer {
            let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
            var frame = ByteBuffer()
            frame.writeBytes([0x8A, 0x80 | UInt8(payload.readableBytes)] + mask)
            frame.writeBytes(payload.readableBytesView.enumerated().map { $0.element ^ mask[$0.offset % 4] })
            return frame
        }
    }
}

/// A client that subscribes and never reads: a plain socket with a tiny receive buffer, so
/// the server's queue for it fills as soon as the kernel's does.
final class StalledClient: Sendable {
    let descriptor: Int32

    init(marketData: String, streams: [String]) throws {
        guard let url = URL(string: marketData), let host = url.host, let port = url.port else { throw MarketDataBenchmarkError.badURL(marketData) }
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4_096
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw MarketDataBenchmarkError.stalledClientConnect(errno) }
        let request = "GET /stream?streams=\(streams.joined(separator: "/")) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard written > 0 else { throw MarketDataBenchmarkError.stalledClientConnect(errno) }
            sent += written
        }
    }

    /// Whether the server closed the connection: reads what it sent (non-blocking) up to EOF.
    func wasDropped() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    func close() { _ = Glibc.close(descriptor) }
}

public enum MarketDataBenchmarkError: Error, CustomStringConvertible {
    case notConnected(Int, of: Int)
    case notListed
    case badURL(String)
    case stalledClientConnect(Int32)

    public var description: String {
        switch self {
        case .notConnected(let connected, let total): "only \(connected) of \(total) clients connected to the market data"
        case .notListed: "the market data did not list the flow's symbols within 2 minutes"
        case .badURL(let url): "not an http://host:port address: \(url)"
        case .stalledClientConnect(let error): "the stalled client could not connect (errno \(error))"
        }
    }
}
