import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeMarketData
import ExchangeMatcher
import ExchangeMatching
import ExchangeRedis
import ExchangeReplication
import ExchangeSnapshots
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The market of every shard as one: follows each shard's output log (and the cluster map,
/// for new shards), keeps every symbol's `SymbolMarket`, and publishes the streams.
///
/// Deterministic from the logs: update ids are input log positions, trade times the output
/// entries' append times, so any number of instances agree. On start each shard is caught up
/// from its published snapshot plus the output after it (entries of the last 24 h at or
/// before the snapshot only warm up tickers and candles); nothing is published or served
/// until every shard has been read to its end (`isCaughtUp`).
///
/// A symbol that moves between shards stays one market: its update ids are the positions of
/// its current shard plus the offset the take-over gave (so they keep increasing), its new
/// shard's events wait until the old shard's output is read up to the hand-over
/// (`HandOverOrder`), and only its current owner's events move it.
public final class MarketDataHub: Sendable {
    /// Per shard: where its output log has been read to, and its local symbol ids' names.
    struct ShardCursor: Sendable {
        var after: StreamID
        /// The published snapshot's position: entries at or before it only replay trades.
        var snapshotPosition: LogPosition
        var lastPosition: LogPosition
        var names: [SymbolID: String]
        /// Per symbol this shard took over: added to its positions to give update ids.
        var offsets: [String: UInt64] = [:]
        var caughtUp = false
        /// Since when every trade of the shard is read.
        var coverage = TradeCoverage(since: 0, startsMidHistory: false)
    }

    public static let outputPageSize = 1_000
    static let tickerWindowMilliseconds: Int64 = 86_400_000

    let redis: RedisClient
    /// A connection of its own for the blocking reads of the output logs.
    let waitRedis: RedisClient
    let fanout = StreamFanout()
    /// Candles, trades and aggregate trades older than memory holds; nil without PostgreSQL.
    let history: TradeHistory?
    let logger: Logger
    let board = Mutex(MarketBoard())
    private let cursors = Mutex<[ShardID: ShardCursor]>([:])
    private let caughtUp = Atomic<Bool>(false)
    /// Output entries applied, for metrics.
    let entriesApplied = Atomic<UInt64>(0)
    /// Its swift-metrics (create the hub after the process bootstraps its metrics backend).
    let metrics = MarketDataMetrics()
    /// Open stream connections per client address, and the last connection id given.
    let connectionCounts = Mutex<[String: Int]>([:])
    let nextConnectionID = Atomic<UInt64>(0)

    /// `postgres` (run by the caller) serves klines older than memory holds.
    public init(redis: RedisClient, waitRedis: RedisClient, postgres: PostgresClient?, logger: Logger) {
        self.redis = redis
        self.waitRedis = waitRedis
        history = postgres.map { TradeHistory(postgres: $0, logger: logger) }
        self.logger = logger
    }

    /// Whether every shard's output log has been read to its end once (until then the
    /// market endpoints answer 503 and no stream publishes).
    public var isCaughtUp: Bool { caughtUp.load(ordering: .acquiring) }

    /// Reads a symbol's market under the lock; nil for an unknown symbol.
    func read<Result: Sendable>(_ symbol: String, _ body: (MarketBoard.Symbol) -> Result) -> Result? {
        board.withLock { board in board.symbols[symbol].map(body) }
    }

    /// Reads every symbol's market, by name order.
    func readAll<Result: Sendable>(_ body: (String, MarketBoard.Symbol) -> Result) -> [Result] {
        board.withLock { board in board.symbols.keys.sorted().map { body($0, board.symbols[$0]!) } }
    }

    func isListed(_ symbol: String) -> Bool { board.withLock { $0.symbols[symbol] != nil } }

    /// Tails until cancelled; publishes the interval streams meanwhile.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.tail() }
            group.addTask { await self.publishIntervals() }
        }
    }

    // MARK: Following the logs

    private func tail() async {
        var lastMapCheck = ContinuousClock.now - .seconds(10)
        while !Task.isCancelled {
            do {
                if lastMapCheck.duration(to: .now) > .seconds(2) {
                    try await addNewShards()
                    lastMapCheck = .now
                }
                let logs = cursors.withLock { $0.map { (keys: ReplicaLogKeys.matchingShard($0.key), after: $0.value.after) } }
                guard !logs.isEmpty else {
                    try await Task.sleep(for: .milliseconds(500))
                    continue
                }
                let outputs = try await ReplicaLogStore.awaitOutputs(logs, count: Self.outputPageSize, block: .milliseconds(200), on: waitRedis)
                // The pages' frames (every shard's) go out together, even if an entry fails.
                var batch = StreamFanout.Batch()
                // When the entries published in `batch` were appended (µs since the epoch).
                var appendTimes: [UInt64] = []
                defer {
                    fanout.send(batch)
                    let now = UInt64(Date().timeIntervalSince1970 * 1_000_000)
                    for appended in appendTimes { metrics.publishDelay.recordMicroseconds(now > appended ? now - appended : 0) }
                }
                for (shard, cursor) in cursors.withLock({ $0 }) {
                    let entries = outputs[.matchingShard(shard)] ?? []
                    var updated = cursor
                    var waiting = false
                    for entry in entries {
                        guard try await process(entry, shard: shard, cursor: &updated, publishing: &batch) else {
                            waiting = true
                            break
                        }
                        // Saved per entry: an error later in the page must not apply this one twice.
                        cursors.withLock { [updated] in $0[shard] = updated }
                        if isCaughtUp { appendTimes.append(entry.appendedAtMicroseconds) }
                    }
                    if entries.count < Self.outputPageSize, !waiting { updated.caughtUp = true }
                    cursors.withLock { [updated] in $0[shard] = updated }
                }
                if !isCaughtUp, cursors.withLock({ $0.values.allSatisfy(\.caughtUp) }) {
                    caughtUp.store(true, ordering: .releasing)
                    logger.info("market data caught up", metadata: ["shards": "\(logs.count)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("market data tail: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Starts following the shards the cluster map lists and this instance does not yet.
    private func addNewShards() async throws {
        guard let map = try await ClusterMapStore(client: redis).load() else { throw ClusterMapStoreError.notInitialized }
        for shard in map.shards.map(\.id) where cursors.withLock({ $0[shard] == nil }) {
            let cursor = try await start(shard: shard)
            cursors.withLock { $0[shard] = cursor }
            if isCaughtUp { logger.info("market data follows a new shard", metadata: ["shard": "\(shard)"]) }
        }
    }

    /// Restores a shard's books from its published snapshot (if any) and finds where its
    /// output log must be read from: 24 h back for tickers and candles, or right after the
    /// snapshot if that is older.
    private func start(shard: ShardID) async throws -> ShardCursor {
        let store = ReplicaLogStore(keys: .matchingShard(shard), client: redis)
        var cursor = ShardCursor(after: .zero, snapshotPosition: 0, lastPosition: 0, names: [:])
        var restored: [(SymbolSpec, SymbolMarket)] = []
        if let published = try await store.publishedSnapshot() {
            let machine = try Self.restore(published.bytes, expectedPosition: published.position)
            cursor.snapshotPosition = published.position
            cursor.lastPosition = published.position
            cursor.offsets = machine.updateIDOffsets
            for (id, spec) in machine.engine.symbols {
                cursor.names[id] = spec.name
                let offset = machine.updateIDOffsets[spec.name] ?? 0
                restored.append((spec, Self.market(of: machine.engine, symbol: id, updateID: published.position + offset)))
            }
        }
        (cursor.after, cursor.coverage) = try await firstEntryToRead(store: store, snapshotPosition: cursor.snapshotPosition)
        for (spec, market) in restored { try await list(spec, market: market, coverage: cursor.coverage, owner: shard) }
        logger.info("market data follows shard", metadata: ["shard": "\(shard)", "snapshot": "\(cursor.snapshotPosition)", "from": "\(cursor.after)"])
        return cursor
    }

    /// The stream id to read after: the start of the ticker window, unless entries after the
    /// snapshot come earlier (then the last entry at or before the snapshot, or the log's
    /// start); and since when (ms) every trade is read from there.
    private func firstEntryToRead(store: ReplicaLogStore, snapshotPosition: LogPosition) async throws -> (StreamID, TradeCoverage) {
        let windowStart = UInt64(max(0, WallClock.milliseconds() - Self.tickerWindowMilliseconds))
        let windowID = StreamID(milliseconds: windowStart, sequence: 0)
        let first = try await store.readOutputs(after: windowID, count: 1).first
        if let first, first.position <= snapshotPosition + 1 {
            // The log's first entry: every trade is read from it on.
            let coverage = first.position == 1
                ? TradeCoverage(since: Int64(first.appendedAtMicroseconds / 1_000), startsMidHistory: false)
                : TradeCoverage(since: Int64(windowStart), startsMidHistory: true)
            return (windowID, coverage)
        }
        // Entries after the snapshot precede the window: walk back to the snapshot's.
        var before = first?.id
        while true {
            let page = try await redis.xrevrange(store.keys.output, before: before, count: Self.outputPageSize).map(OutputEntry.init)
            if let reached = page.first(where: { $0.position <= snapshotPosition }) {
                return (reached.id, TradeCoverage(since: Int64(reached.appendedAtMicroseconds / 1_000), startsMidHistory: true))
            }
            guard page.count == Self.outputPageSize else {
                // The log's start: it must follow the snapshot directly (or be empty).
                if let oldest = page.last ?? first, oldest.position != snapshotPosition + 1 {
                    throw MarketDataError.outputTrimmedPastSnapshot(snapshotPosition)
                }
                let since = (page.last ?? first).map { Int64($0.appendedAtMicroseconds / 1_000) } ?? WallClock.milliseconds()
                return (.zero, TradeCoverage(since: since, startsMidHistory: false))
            }
            before = page.last?.id
        }
    }

    /// Symbol `id`'s market as `engine` holds it, at update id `updateID`.
    static func market(of engine: MatchingEngine, symbol id: SymbolID, updateID: UInt64) -> SymbolMarket {
        let levels = { (side: OrderSide) in
            engine.depth(of: id, side: side, limit: .max).map { DepthBook.Level(priceTicks: $0.price.ticks, lots: $0.quantity.lots) }
        }
        return SymbolMarket(updateID: updateID, bids: levels(.buy), asks: levels(.sell))
    }

    static func restore(_ bytes: [UInt8], expectedPosition: LogPosition) throws -> MatchingShardMachine {
        let (position, machine) = try SnapshotFile.read(contents: bytes) { source in
            (try source.readUInt64(), try MatchingShardMachine.restore(from: &source))
        }
        guard position == expectedPosition else { throw MarketDataError.snapshotPositionMismatch(position, expectedPosition) }
        return machine
    }

    /// Adds a symbol to the board, formatted by its spec and listing, moved by `owner`'s events.
    /// A symbol already there stays unless `market` is newer (two shards' snapshots may both
    /// hold a symbol that moved between them: the later update id is the current book).
    private func list(_ spec: SymbolSpec, market: SymbolMarket, coverage: TradeCoverage, owner: ShardID) async throws {
        let listing = try await MarketCatalog(client: redis).listing(spec.name)
        let format = MarketFormat(spec: spec, listing: listing)
        board.withLock { board in
            if let listed = board.symbols[spec.name], listed.market.book.lastUpdateID >= market.book.lastUpdateID { return }
            board.symbols[spec.name] = MarketBoard.Symbol(market: market, format: format, coverage: coverage, owner: owner)
        }
    }

    /// Follows a symbol `shard` took over: once the old owner's output is read up to the
    /// hand-over (false until then), `shard`'s events move it, with the take-over's offset.
    /// A symbol this instance never saw (its old owner's snapshot is past the hand-over, its
    /// new owner's before the take-over) is listed from the book the take-over carried.
    private func follow(_ tookOver: CommandOutcome.TookOver, shard: ShardID, position: LogPosition, cursor: inout ShardCursor) async throws -> Bool {
        if let from = cursors.withLock({ $0[tookOver.from] }), from.lastPosition < tookOver.fromPosition { return false }
        cursor.names[tookOver.symbolID] = tookOver.symbol
        cursor.offsets[tookOver.symbol] = tookOver.updateIDOffset == 0 ? nil : tookOver.updateIDOffset
        let followed = board.withLock { board -> Bool in
            guard board.symbols[tookOver.symbol] != nil else { return false }
            board.symbols[tookOver.symbol]!.owner = shard
            return true
        }
        if !followed {
            let bookPosition = tookOver.bookPosition ?? position
            let input = try await ReplicaLogStore(keys: .matchingShard(shard), client: redis).readInput(after: bookPosition - 1, count: 1).first
            guard let input, input.position == bookPosition, case .takeOver(let takeOver) = try ShardInput.decode(input.payload) else {
                throw MarketDataError.missingSpec(tookOver.symbol, position: position)
            }
            var engine = MatchingEngine(limits: .init(maximumSymbols: 1, maximumRestingOrders: MatchingShardMachine.limits.maximumRestingOrders))
            let id = try engine.takeOver(takeOver.book)
            try await list(
                engine.spec(of: id), market: Self.market(of: engine, symbol: id, updateID: position + tookOver.updateIDOffset),
                coverage: cursor.coverage, owner: shard)
        }
        return true
    }

    /// The spec of local symbol `id`, added by input entry `position`, and its name noted. A
    /// registration appends one `addSymbol` per entry, which names it without reading the
    /// registry (10,000 listings would otherwise read every name 10,000 times).
    private func addedSpec(_ id: SymbolID, shard: ShardID, position: LogPosition, cursor: inout ShardCursor) async throws -> SymbolSpec {
        let input = try await ReplicaLogStore(keys: .matchingShard(shard), client: redis).readInput(after: position - 1, count: 1).first
        var added: [SymbolSpec] = []
        if let input, input.position == position, case .commands(_, let commands) = try ShardInput.decode(input.payload) {
            for case .addSymbol(let add) in commands { added.append(add.spec) }
        }
        if added.count == 1, cursor.names[id] == nil { cursor.names[id] = added[0].name }
        let name = try await symbolName(shard: shard, id: id, cursor: &cursor)
        guard let spec = added.first(where: { $0.name == name }) else { throw MarketDataError.missingSpec(name, position: position) }
        return spec
    }

    /// Applies one output entry of `shard`; false (nothing applied) when it takes over a
    /// symbol whose old owner's output is not read up to the hand-over yet.
    private func process(_ entry: OutputEntry, shard: ShardID, cursor: inout ShardCursor, publishing batch: inout StreamFanout.Batch) async throws -> Bool {
        let replayOnly = entry.position <= cursor.snapshotPosition
        guard replayOnly || entry.position > cursor.lastPosition else {
            cursor.after = entry.id
            return true
        }
        let time = Int64(entry.appendedAtMicroseconds / 1_000)
        let outcomes = try ShardOutput.decode(entry.payload)
        if !replayOnly {
            for tookOver in HandOverOrder.takeOvers(outcomes) {
                guard try await follow(tookOver, shard: shard, position: entry.position, cursor: &cursor) else { return false }
            }
        }
        cursor.after = entry.id
        var bySymbol: [SymbolID: [MatchingEvent]] = [:]
        for outcome in outcomes {
            for event in outcome.events {
                switch event {
                case .traded(let trade): bySymbol[trade.symbolID, default: []].append(event)
                case .levelChanged(let level) where !replayOnly: bySymbol[level.symbolID, default: []].append(event)
                case .symbolAdded(let id) where !replayOnly:
                    // Added after this instance started reading: every trade of it is in memory.
                    let spec = try await addedSpec(id, shard: shard, position: entry.position, cursor: &cursor)
                    try await list(
                        spec, market: SymbolMarket(updateID: entry.position), coverage: TradeCoverage(since: time, startsMidHistory: false),
                        owner: shard)
                default: continue
                }
            }
        }
        for (id, events) in bySymbol {
            let name = try await symbolName(shard: shard, id: id, cursor: &cursor)
            if replayOnly {
                let trades = events.compactMap { if case .traded(let trade) = $0 { trade } else { nil } }
                board.withLock { $0.symbols[name]?.market.replayTrades(trades, timeMilliseconds: time) }
                continue
            }
            let listeners = isCaughtUp ? fanout.listeners(of: name) : []
            let updateID = entry.position + (cursor.offsets[name] ?? 0)
            let publications = board.withLock { board -> [MarketBoard.Publication] in
                // A symbol that moved on is moved by its new owner only.
                guard board.symbols[name]?.owner == shard else { return [] }
                return board.apply(events, symbol: name, updateID: updateID, timeMilliseconds: time, listeners: listeners)
            }
            for publication in publications { batch.add(publication.payload, name: publication.name, to: publication.listeners) }
        }
        if !replayOnly { cursor.lastPosition = entry.position }
        entriesApplied.add(1, ordering: .relaxed)
        return true
    }

    /// The name of a shard-local symbol id (from the snapshot, or the registry for a symbol
    /// added since).
    private func symbolName(shard: ShardID, id: SymbolID, cursor: inout ShardCursor) async throws -> String {
        if let name = cursor.names[id] { return name }
        for (placement, name) in try await SymbolRegistry(client: redis).names() where placement.shard == shard {
            cursor.names[placement.localID] = name
        }
        guard let name = cursor.names[id] else { throw MarketDataError.unknownSymbolID(shard: shard, id: id) }
        return name
    }

    // MARK: Interval streams

    /// Every 100 ms: the fast depth streams; every second also the slow ones, tickers and
    /// klines. Nothing before the hub is caught up.
    private func publishIntervals() async {
        var tick = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(SymbolMarket.DepthSpeed.fast.milliseconds)) } catch { return }
            guard isCaughtUp else { continue }
            tick += 1
            let now = WallClock.milliseconds()
            let listeners = { (symbol: String) in self.fanout.listeners(of: symbol) }
            let marketListeners = listeners("")
            let withMiniTickers = marketListeners.contains { $0.stream == .allMiniTickers }
            var publications: [MarketBoard.Publication] = []
            var miniTickers: [JSONValue] = []
            // The board's lock is taken per slice of symbols, so the tail applies entries in between.
            let names = board.withLock { Array($0.symbols.keys) }
            for start in stride(from: 0, to: names.count, by: Self.intervalSliceSymbols) {
                let slice = names[start..<min(start + Self.intervalSliceSymbols, names.count)]
                board.withLock { board in
                    publications += board.publishDepth(.fast, of: slice, now: now, listeners: listeners)
                    guard tick % 10 == 0 else { return }
                    publications += board.publishDepth(.slow, of: slice, now: now, listeners: listeners)
                    let seconds = board.publishSeconds(of: slice, now: now, withMiniTickers: withMiniTickers, listeners: listeners)
                    publications += seconds.publications
                    miniTickers += seconds.miniTickers
                }
            }
            publications += MarketBoard.miniTickerArray(miniTickers, listeners: marketListeners)
            var batch = StreamFanout.Batch()
            for publication in publications { batch.add(publication.payload, name: publication.name, to: publication.listeners) }
            fanout.send(batch)
        }
    }

    /// Symbols per hold of the board's lock in an interval publication.
    static let intervalSliceSymbols = 64
}

public enum MarketDataError: Error, CustomStringConvertible {
    case missingSpec(String, position: LogPosition)
    case unknownSymbolID(shard: ShardID, id: SymbolID)
    case snapshotPositionMismatch(LogPosition, LogPosition)
    case outputTrimmedPastSnapshot(LogPosition)

    public var description: String {
        switch self {
        case .missingSpec(let name, let position): "input entry \(position) added \(name) but holds no addSymbol command for it"
        case .unknownSymbolID(let shard, let id): "shard \(shard) reports symbol id \(id), which the registry does not know"
        case .snapshotPositionMismatch(let file, let published): "the published snapshot's file is at \(file), not \(published)"
        case .outputTrimmedPastSnapshot(let position): "the output log no longer holds the entries after the published snapshot at \(position)"
        }
    }
}
