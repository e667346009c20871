import ExchangeHTTPAPI
import NIOCore
import NIOEmbedded
import Testing

@testable import ExchangeClusterTools

/// The market-data benchmark's clients read frames straight from the socket's bytes: every
/// frame counts once however the bytes arrive, pings are answered with masked pongs, and the
/// server's close code is kept.
@Suite struct BenchStreamClientTests {
    @Test func framesSplitAnywhereCountOnce() throws {
        let receipts = MarketDataBenchmark.Receipts()
        let channel = EmbeddedChannel(handler: BenchStreamClient.FrameTally(receipts: receipts))
        // Three trades of each length form (7-bit, 16-bit, 64-bit lengths) and a ping.
        let trade = { (padding: Int) in #"{"e":"trade","E":1700000000000,"p":""# + String(repeating: "1", count: padding) + #""}"# }
        var stream = ByteBuffer()
        for padding in [10, 300, 70_000] { stream.writeImmutableBuffer(EncodedTextFrame(trade(padding)).bytes) }
        stream.writeBytes([0x89, 0x02, 0x68, 0x69])  // ping "hi"
        stream.writeImmutableBuffer(EncodedTextFrame(trade(0)).bytes)
        // Delivered in reads of 7 bytes (headers and payloads cut anywhere).
        while stream.readableBytes > 0 { try channel.writeInbound(stream.readSlice(length: min(7, stream.readableBytes))!) }
        #expect(receipts.received.load(ordering: .relaxed) == 4)
        var pong = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let header = pong.readBytes(length: 2)!, mask = pong.readBytes(length: 4)!
        #expect(header == [0x8A, 0x82])
        #expect(pong.readBytes(length: 2)!.enumerated().map { $0.element ^ mask[$0.offset] } == Array("hi".utf8))
        // The server's close: its code is kept and the channel closed.
        try channel.writeInbound(ByteBuffer(bytes: [0x88, 0x02, 0x03, 0xF0]))
        #expect(receipts.closeCode.load(ordering: .relaxed) == 1008)
        #expect(!channel.isActive)
    }
}
