import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication
import Logging

/// Tails every shard's and every partition's output log and keeps the gateway's Redis view
/// of orders, trades and balances (`GatewayKeys`) up to date; tells waiting requests what
/// happened to their orders (`NoticeBoard`).
///
/// Every gateway instance runs one. They share one cursor per log (`gw:cursor`): the apply
/// script writes an entry's changes only if the cursor is below the entry and moves the
/// cursor in the same step, so the view gets each entry exactly once however many instances
/// project, crash or restart. Each instance still reads every entry itself, to wake its own
/// waiters. An instance starts reading at the shared cursor (the beginning of each log the
/// first time).
///
/// Each log is followed by a loop of its own, with connections of its own: the logs' pages
/// are read and applied concurrently (one loop over every log in turn fell minutes behind
/// 1,500 commands/s in `bench/load.sh`, each script call waiting for the previous one).
final class OrderProjector: Sendable {
    let client: RedisClient
    let notices: NoticeBoard
    let settlements: SettlementBoard
    let markets: MarketDirectory
    let logger: Logger
    /// Entries read per log per step.
    let pageEntries = 256
    /// The most view operations one script call applies (whole entries; one entry may exceed it).
    static let operationsPerCall = 4_096

    init(client: RedisClient, notices: NoticeBoard, settlements: SettlementBoard, markets: MarketDirectory, logger: Logger) {
        self.client = client
        self.notices = notices
        self.settlements = settlements
        self.markets = markets
        self.logger = logger
    }

    /// KEYS: cursor hash. ARGV: log name, then per entry: stream id, operation count, then
    /// its operations as (guard, command, key, first, second, trace). Entries at or below the
    /// cursor are skipped; the cursor ends at the last entry. `UEVENT stream hash text` and
    /// `UBAL stream balances assets` append a user event (see `GatewayKeys.userEvents`).
    ///
    /// Each guard key is looked up once per call: no operation creates or deletes a guard key
    /// (order hashes are written only where they exist, the wanted markers only by requests),
    /// and nothing else runs during a script. A sorted set's `ZREMRANGEBYRANK` trims run once
    /// per set, after the call's other writes: trimming to the highest-ranked N once after
    /// several adds keeps what trimming after each add keeps, because within a call the
    /// trimmed sets (`GatewayKeys.userTrades`) only get `ZADD`s (nothing removes from them,
    /// lowers a score or reads them) and every trim of one set has the same range.
    static let applyScript = RedisScript(source: """
        local function after(a, b)
          local am, as = string.match(a, '(%d+)-(%d+)')
          local bm, bs = string.match(b, '(%d+)-(%d+)')
          am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
          return am > bm or (am == bm and as > bs)
        end
        local present = {}
        local function guarded(key)
          if key == '' then return true end
          local found = present[key]
          if found == nil then
            found = redis.call('EXISTS', key) == 1
            present[key] = found
          end
          return found
        end
        local trims = {}
        local trimOrder = {}
        local cursor = redis.call('HGET', KEYS[1], ARGV[1]) or '0-0'
        local i = 2
        local last = nil
        while i <= #ARGV do
          local id = ARGV[i]
          local count = tonumber(ARGV[i + 1])
          i = i + 2
          local fresh = after(id, cursor)
          for _ = 1, count do
            if fresh and guarded(ARGV[i]) then
              local command = ARGV[i + 1]
              if command == 'ZREMRANGEBYRANK' then
                if trims[ARGV[i + 2]] == nil then table.insert(trimOrder, ARGV[i + 2]) end
                trims[ARGV[i + 2]] = {ARGV[i + 3], ARGV[i + 4]}
              elseif command == 'SREM' or command == 'EXPIRE' or command == 'HDEL' then
                redis.call(command, ARGV[i + 2], ARGV[i + 3])
              elseif command == 'UEVENT' or command == 'UBAL' then
                -- A user event: its text, then the order's hash or the named balances as they are now.
                local fields = {'ev', command == 'UBAL' and 'pos' or ARGV[i + 4]}
                if ARGV[i + 5] ~= '' then
                  table.insert(fields, '\(GatewayKeys.userEventTraceField)')
                  table.insert(fields, ARGV[i + 5])
                end
                if command == 'UEVENT' and ARGV[i + 3] ~= '' then
                  for _, value in ipairs(redis.call('HGETALL', ARGV[i + 3])) do table.insert(fields, value) end
                elseif command == 'UBAL' then
                  for asset in string.gmatch(ARGV[i + 4], '[^,]+') do
                    local held = redis.call('HMGET', ARGV[i + 3], 'a:' .. asset, 'f:' .. asset)
                    table.insert(fields, asset)
                    table.insert(fields, (held[1] or '0') .. ':' .. (held[2] or '0'))
                  end
                end
                redis.call('XADD', ARGV[i + 2], 'MAXLEN', '~', '\(GatewayKeys.userEventEntries)', '*', unpack(fields))
                redis.call('EXPIRE', ARGV[i + 2], '\(GatewayKeys.userEventRetentionSeconds)')
              else
                redis.call(command, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
              end
            end
            i = i + 6
          end
          if fresh then last = id end
        end
        for _, key in ipairs(trimOrder) do redis.call('ZREMRANGEBYRANK', key, trims[key][1], trims[key][2]) end
        if last then redis.call('HSET', KEYS[1], ARGV[1], last) end
        return 0
        """)

    /// Projects until cancelled: a loop per log (started as the cluster map grows), and the
    /// cursor reported every second. Redis failures are logged and retried after a pause.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    do { try await self.reportCursor() } catch { self.logger.warning("gateway.projector: \(String(reflecting: error))") }
                }
            }
            var followed = Set<String>()
            while !Task.isCancelled {
                do {
                    for log in try await markets.logs() where followed.insert(log.keys.output).inserted {
                        group.addTask { await self.follow(log) }
                    }
                } catch {
                    logger.warning("gateway.projector: \(String(reflecting: error))")
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// Projects `log` until cancelled, reading with a blocking connection of its own and
    /// applying with another, from the shared cursor on.
    func follow(_ log: MarketDirectory.Log) async {
        let reader = RedisClient(configuration: client.configuration)
        let writer = RedisClient(configuration: client.configuration)
        defer {
            reader.shutdown()
            writer.shutdown()
        }
        var position: StreamID?
        while !Task.isCancelled {
            do {
                if position == nil { position = try await sharedCursors()[log.keys.output] ?? .zero }
                let entries = try await ReplicaLogStore.awaitOutputs(
                    [(log.keys, position!)], count: pageEntries, block: .milliseconds(1_000), on: reader)[log.keys] ?? []
                if let last = try await project(entries, of: log, on: writer) {
                    position = last.id
                } else if !entries.isEmpty {
                    // A moved symbol's take-over waits for its old owner's log: the same page would come back at once.
                    try await Task.sleep(for: .milliseconds(5))
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("gateway.projector: \(String(reflecting: error))")
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Tells the primaries how far the shared projection got in each log (consumer `gateway`),
    /// so they trim nothing it has not applied nor the inputs it may still read.
    func reportCursor() async throws {
        let stored = try await sharedCursors()
        let taken = try await markets.logs().compactMap { log in stored[log.keys.output].map { (log.keys, $0) } }
        try await ReplicaLogStore.reportConsumed(by: "gateway", taken, on: client)
    }

    /// The shared cursor of each log: output log name → the last entry projected.
    func sharedCursors() async throws -> [String: StreamID] {
        let cursors = try await client.send(["HGETALL", GatewayKeys.cursor]).array ?? []
        var stored: [String: StreamID] = [:]
        for index in stride(from: 0, to: cursors.count - 1, by: 2) {
            if let name = cursors[index].string, let id = cursors[index + 1].string.flatMap(StreamID.init) { stored[name] = id }
        }
        return stored
    }

    /// Projects a page of `log`'s entries (up to a moved symbol's take-over that must wait),
    /// applying through `writer`, then wakes their waiters; returns the last entry applied.
    func project(_ entries: [OutputEntry], of log: MarketDirectory.Log, on writer: RedisClient) async throws -> OutputEntry? {
        guard !entries.isEmpty else { return nil }
        var arguments: [String] = [log.keys.output]
        var operationsInCall = 0
        var allNotices: [OrderNotice] = []
        var allLegs: [String] = []
        var lastApplied: OutputEntry?
        var inputs = InputPage(store: ReplicaLogStore(keys: log.keys, client: client), entries: entries)
        /// Applies the entries gathered so far in one script call.
        func apply() async throws {
            guard arguments.count > 1 else { return }
            _ = try await Self.applyScript.run(on: writer, keys: [GatewayKeys.cursor], arguments: arguments)
            arguments = [log.keys.output]
            operationsInCall = 0
        }
        for entry in entries {
            var outcomes: [CommandOutcome] = []
            if case .shard = log.kind {
                outcomes = try ShardOutput.decode(entry.payload)
                // A moved symbol's events wait until its old owner's are projected.
                guard try await handOversProjected(HandOverOrder.takeOvers(outcomes)) else { break }
            }
            let projected = try await project(entry, of: log, shardOutcomes: outcomes, inputs: &inputs)
            // Bounded script calls: Redis runs nothing else during one (a page of funding
            // entries, thousands of deposits each, once held it for seconds).
            if operationsInCall > 0, operationsInCall + projected.operations.count > Self.operationsPerCall { try await apply() }
            arguments += [entry.id.description, String(projected.operations.count)]
            for operation in projected.operations { arguments += operation.arguments }
            operationsInCall += projected.operations.count
            allNotices += projected.notices
            allLegs += projected.settledLegs
            lastApplied = entry
        }
        try await apply()
        notices.deliver(allNotices)
        settlements.settled(allLegs)
        return lastApplied
    }

    /// The input entries a page of output entries answers: read in one round trip, the first
    /// time one of them is needed (a refusal, or a traced clearing entry).
    struct InputPage {
        let store: ReplicaLogStore
        let entries: [OutputEntry]
        private var read: [LogPosition: InputEntry]?

        init(store: ReplicaLogStore, entries: [OutputEntry]) {
            self.store = store
            self.entries = entries
        }

        /// The input at `position`, one of the page's.
        mutating func input(at position: LogPosition) async throws -> InputEntry {
            if read == nil, let first = entries.first, let last = entries.last {
                let inputs = try await store.readInput(after: first.position - 1, count: Int(last.position - first.position) + 1)
                read = Dictionary(inputs.map { ($0.position, $0) }, uniquingKeysWith: { first, _ in first })
            }
            guard let input = read?[position] else { throw RedisError.unexpectedReply("clearing input \(position) for its orders") }
            return input
        }
    }

    /// What one output entry changes in the view, whom it tells, and which trade legs it settles.
    struct EntryProjection {
        var operations: [ProjectionOperation]
        var notices: [OrderNotice]
        /// `SettlementBoard.leg` keys of the trade settlements and releases it writes.
        var settledLegs: [String] = []
    }

    /// Whether the shared projection has applied each take-over's old owner's output up to
    /// its hand-over.
    func handOversProjected(_ takeOvers: [CommandOutcome.TookOver]) async throws -> Bool {
        guard !takeOvers.isEmpty else { return true }
        let cursors = try await sharedCursors()
        for takeOver in takeOvers {
            let keys = ReplicaLogKeys.matchingShard(takeOver.from)
            guard let cursor = cursors[keys.output],
                  let position = try await ReplicaLogStore(keys: keys, client: client).outputPosition(at: cursor),
                  position >= takeOver.fromPosition else { return false }
        }
        return true
    }

    /// What `entry` of `log` changes; `shardOutcomes` are a shard entry's, decoded.
    func project(_ entry: OutputEntry, of log: MarketDirectory.Log, shardOutcomes outcomes: [CommandOutcome], inputs: inout InputPage) async throws -> EntryProjection {
        let timeMilliseconds = Int64(entry.appendedAtMicroseconds / 1_000)
        switch log.kind {
        case .shard(let shard):
            var names = try await markets.symbolNames(of: shard)
            let traded = outcomes.flatMap(\.events).compactMap { event -> SymbolID? in
                if case .traded(let trade) = event { return trade.symbolID }
                return nil
            }
            if traded.contains(where: { names[$0] == nil }) {
                // A symbol listed since the directory was loaded.
                names = try await markets.snapshot(forceRefresh: true).namesByShard[shard] ?? [:]
            }
            let symbols = try await markets.clearingSymbols()
            let traces = entry.traces
            let (operations, notices) = OrderViewProjection.shardEntry(
                outcomes, timeMilliseconds: timeMilliseconds, symbol: { names[$0] }, clearingSymbol: { symbols[$0] },
                traceOf: { orderID in traces.traces.first { $0.orderID == orderID }?.traceParent })
            return EntryProjection(operations: operations, notices: notices)
        case .partition:
            let events = try ClearingLogCodec.decodeEvents(entry.payload)
            var entryNotices: [OrderNotice] = []
            let refusals = events.compactMap { event -> (ClearingCause, ClearingRejection)? in
                if case .rejected(let cause, let reason) = event, cause.producer.name.hasPrefix(OrderSubmitter.producerPrefix) {
                    return (cause, reason)
                }
                return nil
            }
            // Which orders refusals and traced transactions concern: the commands of the input
            // this entry answers (read only then).
            var commands: [ClearingCommand] = []
            if !refusals.isEmpty || !entry.traces.isEmpty {
                commands = try ClearingLogCodec.decodeInput(try await inputs.input(at: entry.position).payload).commands
            }
            let traces = entry.traces
            var operations = OrderViewProjection.clearingEntry(events, timeMilliseconds: timeMilliseconds) { cause in
                guard !traces.isEmpty, cause.index < commands.count, let orderID = commands[cause.index].orderID else { return nil }
                return traces.traces.first { $0.orderID == orderID }?.traceParent
            }
            if !refusals.isEmpty {
                for (cause, reason) in refusals where cause.index < commands.count {
                    switch commands[cause.index] {
                    case .place(let order):
                        let key = GatewayKeys.order(order.orderID)
                        operations += OrderViewProjection.unsettledMarkRemoval(order.orderID) + [
                            .init(guardKey: key, command: .hset, key: key, first: "st", second: "REJECTED"),
                            .init(guardKey: key, command: .hset, key: key, first: "ut", second: String(timeMilliseconds)),
                            .init(guardKey: key, command: .srem, key: GatewayKeys.userOpenOrders(order.userID), first: String(order.orderID), second: ""),
                            .init(guardKey: key, command: .expire, key: key, first: String(GatewayKeys.endedOrderRetentionSeconds), second: ""),
                        ]
                        entryNotices.append(OrderNotice(orderID: order.orderID, status: "REJECTED", rejection: OrderViewProjection.binanceError(reason)))
                    case .cancel(let orderID, _):
                        entryNotices.append(OrderNotice(orderID: orderID, cancelRefused: true))
                    default:
                        break
                    }
                }
            }
            return EntryProjection(operations: operations, notices: entryNotices, settledLegs: OrderViewProjection.settledLegs(events))
        }
    }
}
