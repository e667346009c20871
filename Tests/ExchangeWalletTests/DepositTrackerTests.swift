import ExchangeChain
import ExchangeWallet
import Testing

struct DepositTrackerTests {
    static func key(_ hash: String) -> ChainPayment.Key { ChainPayment.Key(transactionHash: hash, outputIndex: 0) }

    /// The tracker's view of `chain`'s block `number`: payments to `watched` addresses.
    static func watched(_ block: SimulatedChain.Block, _ watched: Set<String>) -> WatchedBlock {
        WatchedBlock(
            number: block.number, hash: block.hash, parentHash: block.parentHash,
            payments: block.transactions.filter { watched.contains($0.to) }.map {
                ChainPayment(key: key($0.hash), address: $0.to, amount: $0.amount)
            })
    }

    /// Follows `chain` to its tip: on a reorganisation, rolls back one block at a time until
    /// the parent matches (what the watcher does), then applies forward.
    static func follow(_ chain: SimulatedChain, with tracker: inout DepositTracker, watching addresses: Set<String>) throws -> [DepositEvent] {
        var events: [DepositEvent] = []
        // A reorganisation may replace blocks without lengthening the chain: walk back while
        // the tracker's newest block is not the chain's.
        while let number = tracker.appliedThrough, tracker.hash(of: number) != nil, chain.block(number)?.hash != tracker.hash(of: number) {
            events += try tracker.rollBack(to: number - 1)
        }
        while tracker.nextBlock <= chain.tip.number {
            let block = watched(chain.block(tracker.nextBlock)!, addresses)
            do {
                events += try tracker.apply(block)
            } catch .reorganised {
                events += try tracker.rollBack(to: tracker.nextBlock - 2)
            }
        }
        return events
    }

    @Test("pending, confirmed after N blocks counting its own, credited once, completed")
    func lifecycle() throws {
        var chain = SimulatedChain(seed: 1)
        var tracker = DepositTracker(confirmations: 3, startBlock: 1)
        let hash = chain.send(to: "alice", amount: 5)
        chain.mine()
        #expect(try Self.follow(chain, with: &tracker, watching: ["alice"]) == [.seen(Self.key(hash))])
        chain.mine()
        #expect(try Self.follow(chain, with: &tracker, watching: ["alice"]) == [])
        let early = tracker.markCredited(Self.key(hash))
        #expect(!early, "not confirmed yet")
        chain.mine()
        #expect(try Self.follow(chain, with: &tracker, watching: ["alice"]) == [.confirmed(Self.key(hash))])
        let (first, second) = (tracker.markCredited(Self.key(hash)), tracker.markCredited(Self.key(hash)))
        #expect(first && !second)
        let completed = tracker.markCompleted(Self.key(hash))
        #expect(completed && tracker.deposits[Self.key(hash)]?.state == .completed)
    }

    @Test("a shallow reorg cancels a pending deposit; mined again it is pending again, credited once")
    func shallowReorg() throws {
        var chain = SimulatedChain(seed: 2, dropChance: 0)
        var tracker = DepositTracker(confirmations: 3, startBlock: 1)
        let hash = chain.send(to: "bob", amount: 7)
        chain.mine()
        _ = try Self.follow(chain, with: &tracker, watching: ["bob"])
        chain.reorganise(depth: 1)
        #expect(try Self.follow(chain, with: &tracker, watching: ["bob"]) == [.cancelled(Self.key(hash))])
        chain.mine()
        #expect(try Self.follow(chain, with: &tracker, watching: ["bob"]) == [.seen(Self.key(hash))])
        #expect(tracker.deposits[Self.key(hash)]?.blockNumber == 2, "the reorg's new block 1 was empty; block 2 holds it")
    }

    @Test("a reorg deeper than the confirmations after a credit raises a case and never cancels the credit")
    func deepReorg() throws {
        var chain = SimulatedChain(seed: 3, dropChance: 1)
        var tracker = DepositTracker(confirmations: 2, startBlock: 1)
        let hash = chain.send(to: "carol", amount: 9)
        chain.mine()
        chain.mine()
        _ = try Self.follow(chain, with: &tracker, watching: ["carol"])
        let creditedOnce = tracker.markCredited(Self.key(hash))
        #expect(creditedOnce)
        chain.reorganise(depth: 3)
        let events = try Self.follow(chain, with: &tracker, watching: ["carol"])
        #expect(events.filter { if case .reorgAfterCredit = $0 { true } else { false } } == [.reorgAfterCredit(Self.key(hash), blockNumber: 1)])
        #expect(tracker.deposits[Self.key(hash)]?.state == .credited && tracker.deposits[Self.key(hash)]?.orphaned == true)
    }

    @Test("blocks out of order and rollbacks past what is kept are refused")
    func refusals() throws {
        var tracker = DepositTracker(confirmations: 2, keptBlocks: 3, startBlock: 10)
        #expect(throws: DepositTrackerError.notNext(expected: 10)) {
            try tracker.apply(WatchedBlock(number: 11, hash: "b11", parentHash: "b10", payments: []))
        }
        for number in UInt64(10)...15 { _ = try tracker.apply(WatchedBlock(number: number, hash: "b\(number)", parentHash: "b\(number - 1)", payments: [])) }
        #expect(throws: DepositTrackerError.reorganised(atNumber: 16)) {
            try tracker.apply(WatchedBlock(number: 16, hash: "b16", parentHash: "other", payments: []))
        }
        #expect(throws: DepositTrackerError.rollbackTooDeep) { try tracker.rollBack(to: 11) }
        #expect(try tracker.rollBack(to: 12) == [] && tracker.nextBlock == 13)
    }

    @Test("seeded simulation: with reorgs shallower than the confirmations, what is credited is exactly what the chain keeps, each payment once",
          arguments: [UInt64(7), 8, 9, 10])
    func simulation(seed: UInt64) throws {
        var chain = SimulatedChain(seed: seed, dropChance: 0.3)
        var random = SplitMix64(seed: seed ^ 0xABCD)
        let confirmations: UInt64 = 4
        var tracker = DepositTracker(confirmations: confirmations, startBlock: 1)
        let addresses: Set<String> = ["u1", "u2", "u3"]
        var credited: [ChainPayment.Key: UInt128] = [:]
        for _ in 0..<600 {
            switch random.next() % 10 {
            case 0..<4: chain.send(to: ["u1", "u2", "u3", "stranger"][Int(random.next() % 4)], amount: UInt128(1 + random.next() % 1_000))
            case 4..<8: chain.mine(capacity: Int(random.next() % 4))
            default: chain.reorganise(depth: Int(random.next() % confirmations))  // shallower than the confirmations
            }
            let events = try Self.follow(chain, with: &tracker, watching: addresses)
            #expect(!events.contains { if case .reorgAfterCredit = $0 { true } else { false } })
            for case .confirmed(let key) in events {
                #expect(credited[key] == nil, "credited twice: \(key)")
                let marked = tracker.markCredited(key)
                #expect(marked)
                credited[key] = tracker.deposits[key]!.payment.amount
            }
        }
        for _ in 0..<confirmations { chain.mine(capacity: 0) }
        for case .confirmed(let key) in try Self.follow(chain, with: &tracker, watching: addresses) {
            let marked = tracker.markCredited(key)
            #expect(marked)
            credited[key] = tracker.deposits[key]!.payment.amount
        }
        // The canonical chain's payments to watched addresses, all confirmed now.
        var onChain: [ChainPayment.Key: UInt128] = [:]
        for block in chain.blocks {
            for transaction in block.transactions where addresses.contains(transaction.to) { onChain[Self.key(transaction.hash)] = transaction.amount }
        }
        #expect(credited == onChain, "seed \(seed)")
        #expect(!onChain.isEmpty)
    }
}
