import ExchangeClearing
import ExchangeCore
import ExchangeOrderFlow
import Testing

/// Random inputs from several producers, repeats included, against one partition: every
/// invariant after every input, transactions balanced, and snapshots that restore to the
/// same digest and continue identically.
struct ClearingSimulationTests {
    static func command(_ random: inout SeededRandom) -> ClearingCommand {
        let user = 1 + random.uniform(6)
        let asset = random.uniform(2) == 0 ? ClearingStateTests.btc : ClearingStateTests.usdt
        let order = 1 + random.uniform(40)
        switch random.uniform(10) {
        case 0: return .deposit(user: user, asset: asset, amount: Int64(random.uniform(5_000_000_000)), reference: random.next())
        case 1: return .holdWithdrawal(id: random.uniform(20), user: user, asset: asset, amount: Int64(random.uniform(2_000_000_000)))
        case 2: return random.uniform(2) == 0 ? .completeWithdrawal(id: random.uniform(20)) : .releaseWithdrawal(id: random.uniform(20))
        case 3, 4:
            let side: OrderSide = random.uniform(2) == 0 ? .buy : .sell
            return .place(ClearingOrder(
                orderID: order, userID: user, symbol: "BTCUSDT", side: side, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: Int64(1 + random.uniform(5_000_000))), quantity: Quantity(lots: Int64(1 + random.uniform(300)))))
        case 5:
            return random.uniform(3) == 0
                ? .orderAmended(orderID: order, userID: user, releasedLots: Int64(random.uniform(50)))
                : .orderEnded(orderID: order, userID: user)
        case 6, 7, 8:
            return .tradeLeg(TradeLeg(
                tradeID: random.next(), orderID: order, userID: user, price: Price(ticks: Int64(1 + random.uniform(5_000_000))),
                quantity: Quantity(lots: Int64(1 + random.uniform(100))), isMaker: random.uniform(2) == 0))
        default: return .adjust(user: user, asset: asset, amount: Int64(random.uniform(2_000)) - 1_000, reason: "sim")
        }
    }

    @Test("random inputs keep every invariant; snapshots restore and continue identically", arguments: 1...40)
    func simulate(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var state = try ClearingStateTests.funded()
        var positions: [UInt64] = [0, 0, 0]
        var restoredAt: ClearingState?
        for step in 0..<600 {
            let producer = Int(random.uniform(3))
            // One input in ten repeats an old position: it must be dropped whole.
            if random.uniform(10) != 0 || positions[producer] == 0 { positions[producer] += 1 }
            let input = ClearingInput(
                producer: ProducerID("p\(producer)"), position: positions[producer],
                commands: (0..<(1 + random.uniform(4))).map { _ in Self.command(&random) })
            let before = state.stateDigest
            let repeated = state.lastPositions[input.producer].map { input.position <= $0 } ?? false
            let events = state.apply(input)
            do {
                try state.checkInvariants()
            } catch {
                Issue.record("seed \(seed) step \(step): \(error)")
                return
            }
            for case .transaction(let transaction) in events where !transaction.isBalanced {
                Issue.record("seed \(seed) step \(step): unbalanced \(transaction)")
            }
            if repeated { #expect(state.stateDigest == before && events.count == 1, "seed \(seed) step \(step)") }
            if step == 300 {
                restoredAt = try ClearingState(snapshotBytes: state.snapshotBytes())
                #expect(restoredAt?.stateDigest == state.stateDigest, "seed \(seed)")
            }
            if var copy = restoredAt, step > 300 {
                _ = copy.apply(input)
                restoredAt = copy
            }
        }
        #expect(restoredAt?.stateDigest == state.stateDigest, "seed \(seed): the restored state diverged")
    }

    @Test("snapshots refuse bad versions, truncation and trailing bytes (files carry zstd checksums against flipped bits)")
    func snapshotRefusals() throws {
        let state = try ClearingStateTests.funded()
        let bytes = state.snapshotBytes()
        #expect(throws: SnapshotError.unsupportedVersion(9)) { try ClearingState(snapshotBytes: [9] + bytes.dropFirst()) }
        #expect(throws: SnapshotError.self) { try ClearingState(snapshotBytes: bytes + [0]) }
        for cut in stride(from: 1, to: bytes.count, by: 3) {
            #expect(throws: SnapshotError.self) { try ClearingState(snapshotBytes: Array(bytes.prefix(cut))) }
        }
    }
}

extension SeededRandom {
    /// A number in `0 ..< bound`.
    mutating func uniform(_ bound: UInt64) -> UInt64 { next() % bound }
}
