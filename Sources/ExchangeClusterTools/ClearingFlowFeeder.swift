import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis

/// `exchange feed --via-clearing`: sends an order flow the way gateways do. Lists the flow's
/// symbols (base and quote from the name's quote suffix), funds every user with exactly what
/// all their orders could freeze at once, sends places to their users' clearing partitions
/// (which freeze them and forward them to the shards), and cancels and amends straight to the
/// owning shards.
///
/// A cancel can reach its shard before its order does (the order goes through clearing
/// first): it is then refused and the order rests, as it would for a client that cancels
/// before its order was acknowledged. So the result is not `exchange replay`'s; the money is
/// what `exchange audit clearing` checks.
///
/// A market buy by quantity gets a budget that never binds: its quantity at the highest limit
/// price the flow ever gives its symbol (no ask can be above it).
public struct ClearingFlowFeeder: Sendable {
    /// Quote assets recognised at the end of a symbol name, longest first.
    public static let quoteSuffixes = ["USDT", "USDC", "BUSD", "EUR", "USD", "BTC", "ETH"]
    public let client: RedisClient
    public var makerFeeBasisPoints = 10
    public var takerFeeBasisPoints = 20
    /// Places per clearing input entry, at most.
    public var entryCommands = 256
    /// When pacing (`rate`), how long commands wait for more before they are appended, at most;
    /// also the pacing step.
    public var batchLinger = Duration.milliseconds(1)

    public init(client: RedisClient) { self.client = client }

    /// The base and quote assets of `name`, from its quote suffix.
    public static func assets(of name: String) throws -> (base: AssetCode, quote: AssetCode) {
        for suffix in quoteSuffixes where name.hasSuffix(suffix) && name.count > suffix.count {
            if let base = AssetCode(String(name.dropLast(suffix.count))), let quote = AssetCode(suffix) { return (base, quote) }
        }
        throw ClearingFeedError.noQuoteAsset(name)
    }

    /// A flow made ready to feed: its symbols listed and its users funded.
    public struct Prepared: Sendable {
        /// The flow's symbols, by flow symbol id.
        public let symbols: [ClearingSymbol]
        /// Per flow symbol id, the highest limit price the flow gives it (ticks): it bounds
        /// what any market buy can pay per lot.
        let highestPrice: [Int64]
        /// The producer name the places go under.
        public let producer: ProducerID
        let map: ClusterMap
        let placements: [String: SymbolPlacement]

        /// The quote budget (units) of a market buy by quantity; nil for every other order.
        func budget(_ order: PlaceOrder) -> Int64? {
            guard order.side == .buy, order.type == .market else { return nil }
            let symbol = Int(order.symbolID.rawValue)
            return symbols[symbol].quoteUnits(ticks: highestPrice[symbol], lots: order.quantity.lots)
        }
    }

    /// Feeds `flow`; `rate` (flow lines per second) paces the commands when given, flushing
    /// what waits at least every millisecond.
    public func feed(_ flow: OrderFlow, rate: Double? = nil, progress: (Int) -> Void = { _ in }) async throws {
        try await feed(flow, prepared: prepare(flow), rate: rate, progress: progress)
    }

    /// Lists `flow`'s symbols and funds its users, through the clearing logs.
    public func prepare(_ flow: OrderFlow) async throws -> Prepared {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        let admin = ClearingAdmin(client: client)
        let pairs = try flow.symbols.map { try Self.assets(of: $0.name) }
        try await listSymbols(flow, pairs: pairs, admin: admin)
        let assets = try await admin.assets()
        let symbols = try flow.symbols.enumerated().map { index, spec in
            try ClearingSymbol(
                name: spec.name, base: assets[pairs[index].base]!, quote: assets[pairs[index].quote]!, tickSize: spec.tickSize,
                stepSize: spec.stepSize, minimumNotional: spec.minimumNotional, makerFeeBasisPoints: makerFeeBasisPoints,
                takerFeeBasisPoints: takerFeeBasisPoints)
        }
        var highestPrice = [Int64](repeating: 1, count: symbols.count)
        for case .command(.place(let order)) in flow.entries where Int(order.symbolID.rawValue) < symbols.count {
            highestPrice[Int(order.symbolID.rawValue)] = max(highestPrice[Int(order.symbolID.rawValue)], order.price.ticks)
        }
        let run = try await client.send(["INCR", ClearingAdmin.producerCounterKey]).integer ?? 0
        let prepared = Prepared(
            symbols: symbols, highestPrice: highestPrice, producer: ProducerID("feed-\(run)"), map: map,
            placements: try await SymbolRegistry(client: client).all())
        try await fund(flow, prepared: prepared, producer: ProducerID("feed-\(run)-funding"))
        return prepared
    }

    /// Feeds `flow`, made ready by `prepare`; see `feed(_:rate:progress:)`.
    public func feed(_ flow: OrderFlow, prepared: Prepared, rate: Double? = nil, progress: (Int) -> Void = { _ in }) async throws {
        let (symbols, map, placements, producer) = (prepared.symbols, prepared.map, prepared.placements, prepared.producer)
        var places: [PartitionID: (commands: [ClearingCommand], lastLine: Int)] = [:]
        var direct: [ShardID: ShardInputBatch] = [:]
        /// Appends the places queued for `partitions`, one pipeline for all of them.
        func flushPlaces(_ partitions: [PartitionID]) async throws {
            var batches: [ReplicaLogStore.InputBatch] = []
            for partition in partitions.sorted() {
                guard let pending = places.removeValue(forKey: partition), !pending.commands.isEmpty else { continue }
                let position = UInt64(pending.lastLine + 1)
                let input = ClearingInput(producer: producer, position: position, commands: pending.commands)
                batches.append(.init(keys: .clearingPartition(partition), payloads: [ClearingLogCodec.encode(input)], tags: [String(position)]))
            }
            guard !batches.isEmpty else { return }
            // Tags make a retried append idempotent: what already got in is skipped.
            try await FlowFeeder.retrying { _ = try await ReplicaLogStore.appendInputs(batches, producer: producer.name, on: client) }
        }
        /// Appends the cancels and amends queued for `shards`, one pipeline for all of them.
        func flushDirect(_ shards: [ShardID]) async throws {
            var batches: [ReplicaLogStore.InputBatch] = []
            for shard in shards.sorted() {
                guard let batch = direct.removeValue(forKey: shard), !batch.isEmpty else { continue }
                batches.append(.init(keys: .matchingShard(shard), payloads: [batch.input.encoded()]))
            }
            guard !batches.isEmpty else { return }
            try await FlowFeeder.retrying { _ = try await ReplicaLogStore.appendInputs(batches, producer: "default", on: client) }
        }
        let progressStep = max(1, flow.entries.count / 100)
        // Unlike `FlowFeeder`, this feeder waits out each append (no `withSerialAppends`): its
        // entries are a linger's worth of places, far from full, so it never falls into bursts,
        // and on a shared host the generator's work would otherwise overlap the replicas'
        // reaction to what it just appended (measured: clearing step p50 265 -> 490 µs, append
        // to settled p99 3.3-3.5 -> 3.9-4.6 ms at 25k orders/s).
        let pacer = rate.map { FeedPacer(rate: $0, step: batchLinger) }
        var lastFlush = ContinuousClock.now
        for (line, entry) in flow.entries.enumerated() {
            if line % progressStep == 0 { progress(line) }
            if let pacer {
                if lastFlush.duration(to: .now) >= batchLinger {
                    try await flushPlaces(Array(places.keys))
                    try await flushDirect(Array(direct.keys))
                    lastFlush = .now
                }
                try await pacer.pace(line: line)
            }
            guard case .command(let command) = entry, let symbolID = command.symbolID, Int(symbolID.rawValue) < symbols.count else { continue }
            let name = symbols[Int(symbolID.rawValue)].name
            if case .place(let order) = command {
                let partition = map.partition(for: order.userID)
                places[partition, default: ([], 0)].commands.append(.place(ClearingOrder(
                    orderID: order.orderID, userID: order.userID, symbol: name, side: order.side, type: order.type,
                    timeInForce: order.timeInForce, price: order.price, quantity: order.quantity,
                    selfTradePrevention: order.selfTradePrevention, quoteBudget: prepared.budget(order))))
                places[partition]!.lastLine = line
                if places[partition]!.commands.count >= entryCommands { try await flushPlaces([partition]) }
            } else if let shard = placements[name]?.shard {
                direct[shard, default: ShardInputBatch()].append(command, symbol: name)
                if direct[shard]!.count >= entryCommands { try await flushDirect([shard]) }
            }
        }
        try await flushPlaces(Array(places.keys))
        try await flushDirect(Array(direct.keys))
        progress(flow.entries.count)
    }

    /// Adds the assets the flow's symbols need (each at the finest scale any of its symbols
    /// needs) and lists the symbols, skipping what is there already.
    func listSymbols(_ flow: OrderFlow, pairs: [(base: AssetCode, quote: AssetCode)], admin: ClearingAdmin) async throws {
        var scales: [AssetCode: Int] = [:]
        for (spec, pair) in zip(flow.symbols, pairs) {
            scales[pair.base] = max(scales[pair.base] ?? 0, spec.stepSize.scale)
            scales[pair.quote] = max(scales[pair.quote] ?? 0, min(AssetSpec.maximumScale, spec.tickSize.scale + spec.stepSize.scale))
        }
        let existing = try await admin.assets()
        try await admin.addAssets(scales.sorted(by: { $0.key < $1.key }).filter { existing[$0.key] == nil }.map {
            try AssetSpec(code: $0.key, scale: $0.value)
        })
        let listed = try await SymbolRegistry(client: client).all()
        _ = try await admin.addSymbols(zip(flow.symbols, pairs).filter { listed[$0.0.name] == nil }.map { spec, pair in
            ClearingAdmin.NewMarket(
                spec: spec, base: pair.base, quote: pair.quote, makerFeeBasisPoints: makerFeeBasisPoints, takerFeeBasisPoints: takerFeeBasisPoints)
        })
    }

    static let depositsPerEntry = 4_096

    /// Deposits, per user and asset, the sum of everything the user's places could freeze.
    func fund(_ flow: OrderFlow, prepared: Prepared, producer: ProducerID) async throws {
        let symbols = prepared.symbols
        var needs: [ClearingState.AccountKey: Int64] = [:]
        for case .command(.place(let order)) in flow.entries where Int(order.symbolID.rawValue) < symbols.count && order.quantity.lots > 0 {
            let symbol = symbols[Int(order.symbolID.rawValue)]
            let need: Int64?
            let asset: AssetCode
            if order.side == .sell {
                (need, asset) = (symbol.baseUnits(lots: order.quantity.lots), symbol.base)
            } else {
                (need, asset) = (prepared.budget(order) ?? symbol.quoteUnits(ticks: order.price.ticks, lots: order.quantity.lots), symbol.quote)
            }
            let key = ClearingState.AccountKey(user: order.userID, asset: asset)
            let (sum, overflow) = (needs[key] ?? 0).addingReportingOverflow(need ?? 0)
            needs[key] = overflow ? Int64.max / 4 : min(sum, Int64.max / 4)
        }
        var deposits: [PartitionID: [ClearingCommand]] = [:]
        for (key, amount) in needs.sorted(by: { $0.key < $1.key }) where amount > 0 {
            deposits[prepared.map.partition(for: key.user), default: []].append(.deposit(user: key.user, asset: key.asset, amount: amount, reference: 0))
        }
        // Entries of at most `depositsPerEntry` deposits: a flow of many users funds hundreds of
        // thousands of accounts, more than one log entry should hold.
        for (partition, commands) in deposits.sorted(by: { $0.key < $1.key }) {
            for start in stride(from: 0, to: commands.count, by: Self.depositsPerEntry) {
                let input = ClearingInput(
                    producer: producer, position: UInt64(start / Self.depositsPerEntry + 1),
                    commands: Array(commands[start..<min(start + Self.depositsPerEntry, commands.count)]))
                _ = try await ReplicaLogStore(keys: .clearingPartition(partition), client: client).appendInput([ClearingLogCodec.encode(input)])
            }
        }
    }
}

public enum ClearingFeedError: Error, CustomStringConvertible {
    case noQuoteAsset(String)

    public var description: String {
        switch self {
        case .noQuoteAsset(let name): "symbol \(name) does not end in a known quote asset (\(ClearingFlowFeeder.quoteSuffixes.joined(separator: ", ")))"
        }
    }
}
