import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeOrderPath
import ExchangeReplication
import ExchangeTesting
import Testing

/// Matching shards and clearing partitions in one process on simulated logs, driven by a
/// seed: producers place and cancel, replicas apply at their own pace, primaries crash
/// (restarting from their last snapshot) and fail over to standbys, forwarding repeats work
/// and delivers duplicates (a deposed primary's forwards, a successor's again). After every step every replica's invariants hold and the money
/// adds up (the matching engines' structural check every 25 steps: it walks a 2M-slot
/// index); at the end, drained, every trade is settled on both legs and nothing is left in
/// settlement; no leg or order end from a shard is ever refused. A failure names its seed.
///
/// It found a market buy whose budget did not pay for one tick × lot: forwarded with a zero
/// budget, which the matcher reads as none, it spent past its freeze.
struct OrderPathSimulationTests {
    /// One replicated log: its inputs (with each producer's last tag, as the Redis script
    /// keeps it), the primary's outputs, and two replicas.
    struct Log<Machine: ReplicatedStateMachine> {
        struct Replica {
            var machine = Machine()
            var applied = 0
            var snapshot: (bytes: [UInt8], position: Int)?
        }

        var inputs: [[UInt8]] = []
        var lastTags: [String: Int] = [:]
        var outputs: [[UInt8]] = []
        var replicas = [Replica(), Replica()]
        var primary = 0

        /// Appends unless `producer` already appended `tag` or a later one.
        mutating func append(_ payload: [UInt8], producer: String, tag: Int?) {
            if let tag {
                if let last = lastTags[producer], tag <= last { return }
                lastTags[producer] = tag
            }
            inputs.append(payload)
        }

        /// Replica `index` applies up to `count` inputs; the primary emits past the outputs.
        /// Outputs a replica re-derives must equal those appended (determinism).
        mutating func step(_ index: Int, count: Int) throws {
            var replica = replicas[index]
            let limit = index == primary ? inputs.count : outputs.count
            let target = limit - replica.applied <= count ? limit : replica.applied + count
            while replica.applied < target {
                let position = replica.applied + 1
                let output = replica.machine.apply(InputEntry(position: LogPosition(position), timestampMicroseconds: 0, payload: inputs[position - 1]))
                if position <= outputs.count {
                    guard outputs[position - 1] == output else { throw SimulationError.diverged(position: position) }
                } else {
                    outputs.append(output)
                }
                replica.applied = position
            }
            replicas[index] = replica
        }

        mutating func takeSnapshot(_ index: Int) throws {
            var sink = InMemorySnapshotSink()
            try replicas[index].machine.writeSnapshot(to: &sink)
            replicas[index].snapshot = (sink.bytes, replicas[index].applied)
        }

        /// The replica loses its memory and restarts from its snapshot (or from nothing).
        mutating func crash(_ index: Int) throws {
            if let snapshot = replicas[index].snapshot {
                var source = InMemorySnapshotSource(bytes: snapshot.bytes)
                replicas[index].machine = try Machine.restore(from: &source)
                replicas[index].applied = snapshot.position
            } else {
                replicas[index] = Replica()
            }
        }

        /// The standby takes over: it catches up silently to the outputs, then emits.
        mutating func failOver() throws {
            primary = 1 - primary
            try step(primary, count: .max)
        }
    }

    static let usdt = AssetCode("USDT")!
    static let symbols = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]

    @Test("random flows, crashes, failovers and duplicates keep every invariant", arguments: 1...8)
    func simulate(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var shards = [Log<MatchingShardMachine>(), Log<MatchingShardMachine>()]
        var partitions = [Log<ClearingPartitionMachine>(), Log<ClearingPartitionMachine>()]
        func shard(of symbol: String) -> Int { Self.symbols.firstIndex(of: symbol)! % 2 }
        func partition(of user: UserID) -> PartitionID { PartitionID(user % 2) }
        var checkpoints: [String: Int] = [:]
        var producerPosition: UInt64 = 0

        // Assets, symbols on their shards and every partition, funded users.
        let assets = try Self.symbols.map { try AssetSpec(code: AssetCode(String($0.dropLast(4)))!, scale: 2) } + [try AssetSpec(code: Self.usdt, scale: 2)]
        var setup: [ClearingCommand] = assets.map { .addAsset($0) }
        for name in Self.symbols {
            let spec = try SymbolSpec(name: name, tickSize: DecimalNumber(parsing: "1"), stepSize: DecimalNumber(parsing: "1"))
            shards[shard(of: name)].append(ShardInput.addSymbol(spec).encoded(), producer: "ctl", tag: nil)
            shards[1 - shard(of: name)].append(ShardInput.placement(symbol: name, owner: UInt32(shard(of: name))).encoded(), producer: "ctl", tag: nil)
            setup.append(.addSymbol(try ClearingSymbol(
                name: name, base: assets[Self.symbols.firstIndex(of: name)!], quote: assets.last!, tickSize: spec.tickSize,
                stepSize: spec.stepSize, minimumNotional: DecimalNumber(parsing: "0"), makerFeeBasisPoints: 10, takerFeeBasisPoints: 25)))
        }
        for index in partitions.indices {
            // Each user is funded in its own partition.
            let deposits: [ClearingCommand] = (UserID(1)...6).filter { Int(partition(of: $0)) == index }.flatMap { user in
                assets.map { .deposit(user: user, asset: $0.code, amount: 1_000_000, reference: user) }
            }
            let input = ClearingInput(producer: ProducerID("setup"), position: 1, commands: setup + deposits)
            partitions[index].append(ClearingLogCodec.encode(input), producer: "setup", tag: nil)
        }

        /// Forwards what every output log holds beyond what was forwarded (as the primaries do
        /// before they emit); `duplicate` forwards a page again later, as a deposed primary and
        /// its successor would, `bypassTags` delivers clearing inputs past the tag check
        /// (clearing's own dedup must drop them).
        func forward(duplicate: Bool, bypassTags: Bool) throws {
            for source in partitions.indices {
                let key = "clr-\(source)"
                let from = checkpoints[key] ?? 0
                for position in from..<partitions[source].outputs.count {
                    let events = try ClearingLogCodec.decodeEvents(partitions[source].outputs[position])
                    let routed = OrderPathRouting.shardCommands(of: events) { Self.symbols.contains($0) ? ShardID(shard(of: $0)) : nil }
                    for (target, batch) in routed.batches.sorted(by: { $0.key < $1.key }) {
                        shards[Int(target)].append(batch.input.encoded(), producer: key, tag: position + 1)
                    }
                    for (target, commands) in OrderPathRouting.unroutableEnds(routed.unroutable, partitionOf: { partition(of: $0) }) {
                        let input = ClearingInput(producer: ProducerID(key), position: UInt64(position + 1), commands: commands)
                        partitions[Int(target)].append(ClearingLogCodec.encode(input), producer: key, tag: position + 1)
                    }
                }
                if !duplicate { checkpoints[key] = partitions[source].outputs.count }
            }
            for source in shards.indices {
                let key = "me-\(source)"
                let from = checkpoints[key] ?? 0
                for position in from..<shards[source].outputs.count {
                    let outcomes = try ShardOutput.decode(shards[source].outputs[position])
                    for (target, commands) in OrderPathRouting.clearingCommands(of: outcomes, partitionOf: { partition(of: $0) }).sorted(by: { $0.key < $1.key }) {
                        let input = ClearingInput(producer: ProducerID(key), position: UInt64(position + 1), commands: commands)
                        partitions[Int(target)].append(ClearingLogCodec.encode(input), producer: key, tag: bypassTags ? nil : position + 1)
                    }
                }
                if !duplicate { checkpoints[key] = shards[source].outputs.count }
            }
        }

        func checkInvariants(_ step: Int, drained: Bool) throws {
            var held: [AssetCode: Int128] = [:]
            var deposits: [AssetCode: Int128] = [:]
            var settlement: [AssetCode: Int128] = [:]
            for log in partitions {
                for replica in log.replicas {
                    do { try replica.machine.state.checkInvariants() } catch {
                        Issue.record("seed \(seed) step \(step): \(error)")
                    }
                }
                for (asset, total) in log.replicas[log.primary].machine.state.totals {
                    held[asset, default: 0] += total.held
                    deposits[asset, default: 0] += total.netDeposits + total.netAdjustments
                    settlement[asset, default: 0] += total.settlement
                }
            }
            // The engines' own check walks their full-capacity id index (2M slots): every 25 steps.
            for log in shards where drained || step % 25 == 0 {
                for replica in log.replicas {
                    do { try replica.machine.engine.checkInvariants() } catch {
                        Issue.record("seed \(seed) step \(step): matching: \(error)")
                    }
                }
            }
            for (asset, amount) in held {
                #expect(amount + (settlement[asset] ?? 0) == deposits[asset] ?? 0, "seed \(seed) step \(step): \(asset) does not add up")
                if drained { #expect((settlement[asset] ?? 0) == 0, "seed \(seed): \(asset) left in settlement after draining") }
            }
        }

        var orderID: OrderID = 0
        for step in 0..<400 {
            switch random.next() % 10 {
            case 0, 1, 2:
                // A producer places a few orders through clearing (one input per partition).
                producerPosition += 1
                var byPartition: [PartitionID: [ClearingCommand]] = [:]
                for _ in 0..<(1 + random.next() % 4) {
                    orderID += 1
                    let user = 1 + random.next() % 6
                    let market = random.next() % 8 == 0
                    byPartition[partition(of: user), default: []].append(.place(ClearingOrder(
                        orderID: orderID, userID: user, symbol: Self.symbols[Int(random.next() % 3)], side: random.chance(0.5) ? .buy : .sell,
                        type: market ? .market : .limit, timeInForce: market ? .immediateOrCancel : .goodTillCanceled,
                        price: market ? .absent : Price(ticks: 95 + Int64(random.next() % 10)), quantity: Quantity(lots: 1 + Int64(random.next() % 20)),
                        quoteBudget: market && random.chance(0.5) ? Int64(random.next() % 3_000) : nil)))
                }
                for (target, commands) in byPartition {
                    let input = ClearingInput(producer: ProducerID("gateway"), position: producerPosition, commands: commands)
                    partitions[Int(target)].append(ClearingLogCodec.encode(input), producer: "gateway", tag: nil)
                }
            case 3:
                // A cancel straight to the shard (it may not have the order yet).
                guard orderID > 0 else { break }
                let target = random.next() % orderID + 1
                let symbol = Self.symbols[Int(random.next() % 3)]
                shards[shard(of: symbol)].append(ShardInput.commands(symbols: [symbol], commands: [
                    .cancel(CancelOrder(orderID: target, userID: 1 + random.next() % 6, symbolID: SymbolID(0))),
                ]).encoded(), producer: "gateway-cancels", tag: nil)
            case 4, 5, 6:
                let count = Int(1 + random.next() % 5)
                for index in shards.indices { for replica in 0..<2 { try shards[index].step(replica, count: count) } }
                for index in partitions.indices { for replica in 0..<2 { try partitions[index].step(replica, count: count) } }
            case 7:
                try forward(duplicate: random.chance(0.3), bypassTags: random.chance(0.3))
            case 8:
                // A snapshot, or a crash (the replica restarts from its snapshot).
                let isShard = random.chance(0.5)
                let index = Int(random.next() % 2), replica = Int(random.next() % 2)
                if random.chance(0.5) {
                    if isShard { try shards[index].takeSnapshot(replica) } else { try partitions[index].takeSnapshot(replica) }
                } else {
                    if isShard { try shards[index].crash(replica) } else { try partitions[index].crash(replica) }
                }
            default:
                // The primary dies: the standby takes over.
                let index = Int(random.next() % 2)
                if random.chance(0.5) {
                    try shards[index].crash(shards[index].primary)
                    try shards[index].failOver()
                } else {
                    try partitions[index].crash(partitions[index].primary)
                    try partitions[index].failOver()
                }
            }
            try checkInvariants(step, drained: false)
        }
        // Drain: apply and forward until nothing moves.
        for _ in 0..<50 {
            for index in shards.indices { for replica in 0..<2 { try shards[index].step(replica, count: .max) } }
            for index in partitions.indices { for replica in 0..<2 { try partitions[index].step(replica, count: .max) } }
            try forward(duplicate: false, bypassTags: false)
        }
        try checkInvariants(400, drained: true)
        // Every trade was settled on both legs, once.
        var trades = Set<String>()
        for (index, log) in shards.enumerated() {
            let names = Dictionary(uniqueKeysWithValues: log.replicas[log.primary].machine.engine.symbols.map { ($0.id, $0.spec.name) })
            for output in log.outputs {
                for case .traded(let trade) in try ShardOutput.decode(output).flatMap(\.events) {
                    trades.insert("\(names[trade.symbolID] ?? "shard \(index)") trade \(trade.tradeID)")
                }
            }
        }
        var legs: [String: Int] = [:]
        for log in partitions {
            for output in log.outputs {
                for event in try ClearingLogCodec.decodeEvents(output) {
                    if case .transaction(let transaction) = event, transaction.kind == .tradeSettlement { legs[transaction.memo, default: 0] += 1 }
                    if case .rejected(let cause, let reason) = event, cause.producer.name.hasPrefix("me-") {
                        Issue.record("seed \(seed): a shard's message was refused: \(cause) \(reason)")
                    }
                }
            }
        }
        #expect(Set(legs.keys) == trades, "seed \(seed): settled trades differ from traded ones")
        #expect(legs.values.allSatisfy { $0 == 2 }, "seed \(seed): a trade settled other than once per side")
        #expect(!trades.isEmpty, "seed \(seed): the flow traded")
    }
}

enum SimulationError: Error {
    /// A replica re-derived an output different from the one appended.
    case diverged(position: Int)
}
