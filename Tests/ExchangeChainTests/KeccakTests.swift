import ExchangeChain
import Testing

struct KeccakTests {
    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    @Test("Keccak-256 published vectors (Ethereum's, not SHA3-256's)", arguments: [
        ("", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        ("abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        ("The quick brown fox jumps over the lazy dog", "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
    ])
    func vectors(message: String, digest: String) {
        #expect(Self.hex(Keccak256.hash(Array(message.utf8))) == digest)
    }

    @Test("messages around the 136-byte block edge hash without a trap and differently")
    func blockEdges() {
        let digests = (130...280).map { Self.hex(Keccak256.hash([UInt8](repeating: 0x61, count: $0))) }
        #expect(Set(digests).count == digests.count)
    }

    @Test("EIP-55 checksums: the EIP's own examples print and parse; a wrong case is refused", arguments: [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ])
    func checksums(address: String) throws {
        let parsed = try EthereumAddress(parsing: address)
        let isSingleCase = address.dropFirst(2) == address.dropFirst(2).lowercased() || address.dropFirst(2) == address.dropFirst(2).uppercased()
        if !isSingleCase { #expect(parsed.description == address) }
        #expect(try EthereumAddress(parsing: address.lowercased()) == parsed)
        #expect(try EthereumAddress(parsing: parsed.description) == parsed)
    }

    @Test("malformed and mistyped addresses are refused")
    func refusals() {
        #expect(throws: EthereumAddress.ParseError.badChecksum) { try EthereumAddress(parsing: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD") }
        for bad in ["", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
                    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0xgaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"] {
            #expect(throws: EthereumAddress.ParseError.malformed) { try EthereumAddress(parsing: bad) }
        }
    }
}

struct HexTests {
    @Test("hex both ways; 0x optional; odd lengths and non-hex refused")
    func roundTrip() {
        #expect(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(Hex.decode("0x000fA0ff") == [0x00, 0x0F, 0xA0, 0xFF] && Hex.decode("") == [] && Hex.decode("0x") == [])
        for bad in ["0", "0x1", "zz", "0xg0", " 00"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    }
}
