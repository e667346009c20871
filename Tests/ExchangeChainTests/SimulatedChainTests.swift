import ExchangeChain
import Testing

@Suite struct SimulatedChainTests {
    static let hot = "0x" + String(repeating: "a1", count: 20)
    static let user = "0x" + String(repeating: "b2", count: 20)

    @Test("a kept account: one transfer per transaction however often it is sent, nonces in order, never more than it holds")
    func keptAccount() async throws {
        let adapter = SimulatedChainAdapter(SimulatedChain(seed: 5, dropChance: 0))
        adapter.withChain { $0.send(to: Self.hot, amount: 100) }
        adapter.withChain { _ = $0.mine() }
        let signer = SimulatedTransferSigner(address: Self.hot)
        let first = try signer.sign(to: Self.user, amount: 60, nonce: 0)
        #expect(try await adapter.broadcast(first.raw) == first.hash)
        #expect(try await adapter.broadcast(first.raw) == first.hash, "the same bytes again: the same transaction")
        await #expect(throws: SimulatedChain.SubmitError.nonceTaken(0)) { try await adapter.broadcast(try signer.sign(to: Self.user, amount: 1, nonce: 0).raw) }
        let second = try signer.sign(to: Self.user, amount: 60, nonce: 1)  // more than is left after the first
        _ = try await adapter.broadcast(second.raw)
        #expect(try await adapter.nextNonce(of: Self.hot) == 2)
        adapter.withChain { _ = $0.mine() }
        #expect(try await adapter.status(ofTransaction: first.hash) == .mined(blockNumber: 2, succeeded: true))
        #expect(try await adapter.status(ofTransaction: second.hash) == .pending, "it waits until the hot wallet can pay")
        let userBalance = try await adapter.balance(of: Self.user)
        let hotBalance = try await adapter.balance(of: Self.hot)
        #expect(userBalance == 60 && hotBalance == 40)
        adapter.withChain { $0.send(to: Self.hot, amount: 50) }
        adapter.withChain { _ = $0.mine() }
        adapter.withChain { _ = $0.mine() }
        #expect(try await adapter.balance(of: Self.user) == 120)
        #expect(SimulatedTransfer(raw: first.raw + [0]) == nil && SimulatedTransfer(raw: [0xC0]) == nil)
        // A fee spike: the hot wallet's next transfer waits until it passes.
        let third = try signer.sign(to: Self.user, amount: 10, nonce: 2)
        _ = try await adapter.broadcast(third.raw)
        adapter.withChain { $0.minimumFee = 5 }
        adapter.withChain { _ = $0.mine() }
        #expect(try await adapter.status(ofTransaction: third.hash) == .pending, "stuck while fees are above what it offers")
        adapter.withChain { $0.minimumFee = 0 }
        adapter.withChain { _ = $0.mine() }
        #expect(try await adapter.status(ofTransaction: third.hash) == .mined(blockNumber: 6, succeeded: true))
    }

    @Test("RLP decodes what it encodes, and nothing with bytes left over")
    func rlpRoundTrip() {
        let item = RLP.list([.bytes([]), .bytes([0x7F]), .bytes(Array(repeating: 9, count: 60)), .list([.integer(1_000_000), .string("dog")])])
        #expect(RLP.decode(item.encoded) == item)
        #expect(RLP.decode(item.encoded + [1]) == nil && RLP.decode([0xB8]) == nil)
    }
}
