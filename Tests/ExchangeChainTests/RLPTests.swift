import ExchangeChain
import Testing

/// The examples of Ethereum's RLP specification (ethereum.org, "Recursive-length prefix").
struct RLPTests {
    @Test("the specification's examples")
    func examples() {
        #expect(RLP.string("dog").encoded == [0x83, 0x64, 0x6F, 0x67])
        #expect(RLP.list([.string("cat"), .string("dog")]).encoded == [0xC8, 0x83, 0x63, 0x61, 0x74, 0x83, 0x64, 0x6F, 0x67])
        #expect(RLP.string("").encoded == [0x80])
        #expect(RLP.list([]).encoded == [0xC0])
        #expect(RLP.integer(0).encoded == [0x80])
        #expect(RLP.bytes([0x00]).encoded == [0x00])
        #expect(RLP.bytes([0x0F]).encoded == [0x0F])
        #expect(RLP.integer(15).encoded == [0x0F])
        #expect(RLP.integer(1024).encoded == [0x82, 0x04, 0x00])
        // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
        #expect(RLP.list([.list([]), .list([.list([])]), .list([.list([]), .list([.list([])])])]).encoded
            == [0xC7, 0xC0, 0xC1, 0xC0, 0xC3, 0xC0, 0xC1, 0xC0])
        let lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit"
        #expect(RLP.string(lorem).encoded == [0xB8, 0x38] + Array(lorem.utf8))
    }

    @Test("long strings and lists carry their length's length; integers drop leading zeros")
    func lengths() {
        #expect(RLP.bytes([UInt8](repeating: 1, count: 55)).encoded.prefix(1) == [0xB7])
        #expect(RLP.bytes([UInt8](repeating: 1, count: 1_024)).encoded.prefix(3) == [0xB9, 0x04, 0x00])
        #expect(RLP.list([RLP](repeating: .bytes([1]), count: 60)).encoded.prefix(2) == [0xF8, 60])
        #expect(RLP.integer(UInt128(UInt64.max) + 1).encoded == [0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(RLP.integer(0x0100).encoded == [0x82, 0x01, 0x00])
    }
}
