import Synchronization

/// The simulated chain behind the `ChainAdapter` interface, shared by the wallet under test
/// and the test's hand on the chain (`withChain`: deposit, mine, reorganise, drop).
public final class SimulatedChainAdapter: ChainAdapter {
    let chain: Mutex<SimulatedChain>

    public init(_ chain: SimulatedChain) { self.chain = Mutex(chain) }

    /// Acts on the chain directly (what the world outside the exchange does).
    public func withChain<Result>(_ body: (inout SimulatedChain) throws -> Result) rethrows -> Result {
        try chain.withLock { try body(&$0) }
    }

    public func latestBlockNumber() async throws -> UInt64 { chain.withLock { $0.tip.number } }

    public func block(_ number: UInt64, paymentsTo addresses: Set<String>) async throws -> WatchedBlock? {
        chain.withLock { chain in
            chain.block(number).map { block in
                WatchedBlock(
                    number: block.number, hash: block.hash, parentHash: block.parentHash,
                    payments: block.transactions.filter { addresses.contains($0.to) }.map {
                        ChainPayment(key: .init(transactionHash: $0.hash, outputIndex: 0), address: $0.to, amount: $0.amount)
                    })
            }
        }
    }

    public func broadcast(_ rawTransaction: [UInt8]) async throws -> String {
        guard let transfer = SimulatedTransfer(raw: rawTransaction) else { throw SimulatedChain.SubmitError.malformed }
        return try chain.withLock { chain throws(SimulatedChain.SubmitError) in try chain.submit(transfer) }
    }

    public func status(ofTransaction hash: String) async throws -> TransactionStatus { chain.withLock { $0.status(of: hash) } }

    public func nextNonce(of address: String) async throws -> UInt64 { chain.withLock { $0.nextNonce(of: address.lowercased()) } }

    public func balance(of address: String) async throws -> UInt128 { chain.withLock { $0.balance(of: address.lowercased()) } }
}

/// Signs (encodes) transfers of a kept account of the simulated chain, each offering `fee`.
public struct SimulatedTransferSigner: TransferSigner {
    public let address: String
    public let fee: UInt128

    public init(address: String, fee: UInt128 = 1) {
        self.address = address.lowercased()
        self.fee = fee
    }

    public func sign(to recipient: String, amount: UInt128, nonce: UInt64) throws -> SignedTransfer {
        let transfer = SimulatedTransfer(from: address, nonce: nonce, to: recipient, amount: amount, fee: fee)
        return SignedTransfer(raw: transfer.raw, hash: transfer.hash)
    }
}
