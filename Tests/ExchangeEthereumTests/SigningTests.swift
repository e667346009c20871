import ExchangeChain
import ExchangeEthereum
import Testing

/// EIP-155's own example, byte for byte: the key 0x4646…46 signs nonce 9, 20 gwei, 21,000 gas,
/// 1 ether to 0x3535…35 on chain 1.
struct SigningTests {
    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
    static let key = try! EthereumKey(bytes: [UInt8](repeating: 0x46, count: 32))
    static let transaction = LegacyTransaction(
        nonce: 9, gasPrice: 20_000_000_000, gasLimit: 21_000, to: EthereumAddress(bytes: [UInt8](repeating: 0x35, count: 20)),
        value: 1_000_000_000_000_000_000, chainID: 1)

    @Test("the key's address")
    func address() {
        #expect(Self.key.address.description == "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F")
        #expect(!Self.key.description.contains("4646"), "the key's bytes never print")
    }

    @Test("EIP-155's signing data, signing hash and signed transaction")
    func eip155() {
        #expect(Self.hex(Self.transaction.signingPayload)
            == "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080")
        #expect(Self.hex(Keccak256.hash(Self.transaction.signingPayload)) == "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
        let (raw, _) = Self.transaction.signed(with: Self.key)
        #expect(Self.hex(raw) == "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83")
        // Deterministic: signing again gives the same bytes (what a rebroadcast relies on, though it sends the stored ones).
        #expect(Self.transaction.signed(with: Self.key).raw == raw)
    }

    @Test("invalid keys are refused")
    func invalidKeys() {
        #expect(throws: EthereumKey.KeyError.invalid) { try EthereumKey(bytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: EthereumKey.KeyError.invalid) { try EthereumKey(bytes: [UInt8](repeating: 0xFF, count: 32)) }
        #expect(throws: EthereumKey.KeyError.invalid) { try EthereumKey(bytes: [1, 2, 3]) }
    }
}
