import ExchangeClearing
import ExchangeCore
import Testing

/// Random inputs from several producers, repeats included, against one partition: every
/// invariant after every input, transactions balanced, and snapshots that restore to the
/// same digest and continue identically.
struct ClearingSimulationTests {
    /// A small deterministic generator (SplitMix64), so the module needs no test helpers.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
    }

    static func command(_ random: inout Random) -> ClearingCommand {
        let user = 1 + random.below(6)
        let asset = random.below(2) == 0 ? ClearingStateTests.btc : ClearingStateTests.usdt
        let order = 1 + random.below(40)
        switch random.below(10) {
        case 0: return .deposit(user: user, asset: asset, amount: Int64(random.below(5_000_000_000)), reference: random.next())
        case 1: return .holdWithdrawal(id: random.below(20), user: user, asset: asset, amount: Int64(random.below(2_000_000_000)))
        case 2: return random.below(2) == 0 ? .completeWithdrawal(id: random.below(20)) : .releaseWithdrawal(id: random.below(20))
        case 3, 4:
            let side: OrderSide = random.below(2) == 0 ? .buy : .sell
            return .place(ClearingOrder(
                orderID: order, userID: user, symbol: "BTCUSDT", side: side, type: .limit, timeInForce: .goodTillCanceled,
                price: Price(ticks: Int64(1 + random.below(5_000_000))), quantity: Quantity(lots: Int64(1 + random.below(300)))))
        case 5:
            return random.below(3) == 0
                ? .orderAmended(orderID: order, userID: user, releasedLots: Int64(random.below(50)))
                : .orderEnded(orderID: order, userID: user)
        case 6, 7, 8:
            return .tradeLeg(TradeLeg(
                tradeID: random.next(), orderID: order, userID: user, price: Price(ticks: Int64(1 + random.below(5_000_000))),
                quantity: Quantity(lots: Int64(1 + random.below(100))), isMaker: random.below(2) == 0))
        default: return .adjust(user: user, asset: asset, amount: Int64(random.below(2_000)) - 1_000, reason: "sim")
        }
    }

    @Test("random inputs keep every invariant; snapshots restore and continue identically", arguments: 1...40)
    func simulate(seed: UInt64) throws {
        var random = Random(state: seed)
        var state = try ClearingStateTests.funded()
        var positions: [UInt64] = [0, 0, 0]
        var restoredAt: ClearingState?
        for step in 0..<600 {
            let producer = Int(random.below(3))
            // One input in ten repeats an old position: it must be dropped whole.
            if random.below(10) != 0 || positions[producer] == 0 { positions[producer] += 1 }
            let input = ClearingInput(
                producer: ProducerID("p\(producer)"), position: positions[producer],
                commands: (0..<(1 + random.below(4))).map { _ in Self.command(&random) })
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
