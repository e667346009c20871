import ExchangeHTTPAPI
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// `EncodedTextFrame` is written below NIO's frame encoder, so it must be byte for byte what
/// that encoder makes of the same server text frame, for every length form of RFC 6455 §5.2.
@Suite struct EncodedTextFrameTests {
    @Test(arguments: [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
    func sameBytesAsNIOsEncoder(length: Int) throws {
        let payload = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: payload))).wait()
        var expected = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { expected.writeBuffer(&part) }
        _ = try channel.finish()
        #expect(EncodedTextFrame(payload).bytes == expected)
    }

    @Test func multiByteCharactersCountAsBytes() throws {
        let payload = String(repeating: "é", count: 100)  // 200 bytes: the 16-bit length form
        let bytes = EncodedTextFrame(payload).bytes
        #expect(bytes.getInteger(at: 1, as: UInt8.self) == 126)
        #expect(bytes.getInteger(at: 2, as: UInt16.self) == 200)
        #expect(bytes.readableBytes == 204)
    }
}
