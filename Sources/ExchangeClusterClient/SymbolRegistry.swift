import ExchangeCluster
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication

/// Where a symbol lives: its shard and its id in that shard's engine.
public struct SymbolPlacement: Sendable, Hashable {
    public var shard: ShardID
    public var localID: SymbolID

    public init(shard: ShardID, localID: SymbolID) {
        self.shard = shard
        self.localID = localID
    }
}

/// The cluster's symbols in Redis (`cluster:symbols`: name → `shard:localID`). Registering a
/// symbol appends its `addSymbol` to the owning shard's input log in the same script, so the
/// local id handed out is exactly the id that shard's engine assigns, and a `placement`
/// entry to every other shard's log, so any shard can name the owner of a misrouted command.
///
/// Symbols move (`ctl move`): the old owner's forwarder appends the handed-over book to the new
/// owner's log and, in the same script, places the symbol there (`takeOver`). Every placement a
/// symbol ever had stays in `cluster:symbol-ids` (`shard:localID` → name), so readers of older
/// log entries still name their symbol ids; `cluster:symbols:version` counts changes, so
/// routers notice a move without reading every placement.
///
/// Each registration and move also records, in the same script, the clearing partitions' last
/// input positions (`cluster:placement-history`, a `PlacementHistory` per name): clearing
/// routes an output by its position through that history, never by the placement current when
/// it forwards (`Routing`).
public struct SymbolRegistry: Sendable {
    public static let key = "cluster:symbols"
    static let historyKey = "cluster:symbol-ids"
    static let countsKey = "cluster:symbol-counts"
    public static let versionKey = "cluster:symbols:version"
    /// A token naming the last placement change (`version:seconds:microseconds`): unlike the
    /// version, never repeated, even after Redis lost writes in a failover.
    static let changeKey = "cluster:symbols:change"
    static let placementHistoryKey = "cluster:placement-history"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// Lua: `recordPlacement(first, count, name, shard, from, prior)` records a placement
    /// change of `name` to `shard`: it counts the version up, names the change with a new
    /// token, and appends the change to the symbol's `PlacementHistory`, with the cuts read from
    /// the `count` clearing input sequence keys. `KEYS[first]` on are `placementChangeKeys`.
    /// For a move, `from` is the old owner and `prior` the history of a symbol that has been
    /// there from the start: it stands for a history not recorded, or one that does not end at
    /// `from` (a move by a build that kept none, after which clearing routed by the placement).
    static let recordPlacementFunction = """
        local function recordPlacement(first, count, name, shard, from, prior)
          local version = redis.call('INCR', KEYS[first])
          local t = redis.call('TIME')
          redis.call('SET', KEYS[first + 1], version .. ':' .. t[1] .. ':' .. t[2])
          local cuts = {}
          for i = first + 3, first + 2 + count do cuts[#cuts + 1] = redis.call('GET', KEYS[i]) or '0' end
          local change = shard .. '@' .. table.concat(cuts, ',')
          local history = redis.call('HGET', KEYS[first + 2], name)
          if from and (not history or string.match(history, '(%d+)@[^;]*$') ~= from) then history = prior end
          if history then change = history .. ';' .. change end
          redis.call('HSET', KEYS[first + 2], name, change)
        end

        """

    /// What a placement change writes and reads (`recordPlacement`): the version, the change
    /// token, the placement histories, and every partition's input sequence (the cuts).
    static func placementChangeKeys(partitionCount: Int) -> [String] {
        precondition(partitionCount >= 1, "a cluster has at least one partition")
        return [versionKey, changeKey, placementHistoryKey] + (0..<partitionCount).map { ReplicaLogKeys.clearingPartition(PartitionID($0)).sequence }
    }

    /// KEYS: registry, counts, history, the `placementChangeKeys` (ARGV[5] partitions), then
    /// (input, sequence) of the owner and of every other shard. ARGV: name, owner, the
    /// owner's entry, the others' entry, partition count.
    static let registerScript = RedisScript(source: recordPlacementFunction + """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then return existing end
        local count = redis.call('HINCRBY', KEYS[2], ARGV[2], 1) - 1
        local placement = ARGV[2] .. ':' .. count
        redis.call('HSET', KEYS[1], ARGV[1], placement)
        redis.call('HSET', KEYS[3], placement, ARGV[1])
        local partitions = tonumber(ARGV[5])
        recordPlacement(4, partitions, ARGV[1], ARGV[2], nil, nil)
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        local owner = 7 + partitions
        for i = owner, #KEYS, 2 do
          local position = redis.call('INCR', KEYS[i + 1])
          local payload = ARGV[4]
          if i == owner then payload = ARGV[3] end
          redis.call('XADD', KEYS[i], position .. '-1', 'd', payload, 't', micros, 'g', 'symbol')
        end
        return placement
        """)

    /// Registers `spec` on `shard` (or returns where it already is), telling `otherShards`
    /// where it lives; `partitionCount` is the cluster map's.
    public func register(_ spec: SymbolSpec, on shard: ShardID, otherShards: [ShardID], partitionCount: Int) async throws -> SymbolPlacement {
        var keys = [Self.key, Self.countsKey, Self.historyKey] + Self.placementChangeKeys(partitionCount: partitionCount)
        for target in [shard] + otherShards.filter({ $0 != shard }) {
            let logKeys = ReplicaLogKeys.matchingShard(target)
            keys += [logKeys.input, logKeys.sequence]
        }
        let reply = try await Self.registerScript.run(
            on: client, keys: keys,
            binaryArguments: [
                Array(spec.name.utf8), Array(String(shard).utf8), ShardInput.addSymbol(spec).encoded(),
                ShardInput.placement(symbol: spec.name, owner: shard).encoded(), Array(String(partitionCount).utf8),
            ])
        guard let text = reply.string, let placement = Self.placement(text) else {
            throw RedisError.unexpectedReply("register \(reply)")
        }
        return placement
    }

    /// KEYS: the new owner's input, sequence and last tag of the old owner's forwarder;
    /// registry, counts, history, then the `placementChangeKeys`. ARGV: tag (the hand-over's
    /// position on the old owner), the `takeOver` entry, name, new owner, the placement history
    /// of a symbol on its old owner from the start, the old owner (`recordPlacement`). Appends
    /// the entry and places the symbol on the new owner under the next local id, once per tag
    /// (0 when already done).
    static let takeOverScript = RedisScript(source: recordPlacementFunction + """
        local last = redis.call('GET', KEYS[3])
        if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
        local count = redis.call('HINCRBY', KEYS[5], ARGV[4], 1) - 1
        local placement = ARGV[4] .. ':' .. count
        local position = redis.call('INCR', KEYS[2])
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        redis.call('XADD', KEYS[1], position .. '-1', 'd', ARGV[2], 't', micros, 'g', ARGV[1])
        redis.call('SET', KEYS[3], ARGV[1])
        redis.call('HSET', KEYS[4], ARGV[3], placement)
        redis.call('HSET', KEYS[6], placement, ARGV[3])
        recordPlacement(7, #KEYS - 9, ARGV[3], ARGV[4], ARGV[6], ARGV[5])
        return position
        """)

    /// Appends `takeOver` to the log of `shard` (the symbol's new owner) and places the symbol
    /// there, exactly once per hand-over: `producer` is the old owner's forwarder, `tag` the
    /// hand-over's input position there; `partitionCount` is the cluster map's. Returns the
    /// entry's position (0 if already appended).
    public func placeTakeOver(
        _ takeOver: ShardInput.TakeOver, on shard: ShardID, producer: String, tag: LogPosition, partitionCount: Int
    ) async throws -> LogPosition {
        let logKeys = ReplicaLogKeys.matchingShard(shard)
        let keys = [logKeys.input, logKeys.sequence, logKeys.lastTag(producer: producer), Self.key, Self.countsKey, Self.historyKey]
            + Self.placementChangeKeys(partitionCount: partitionCount)
        let fromTheStart = "\(takeOver.from)@" + Array(repeating: "0", count: partitionCount).joined(separator: ",")
        let reply = try await Self.takeOverScript.run(
            on: client, keys: keys,
            binaryArguments: [
                Array(String(tag).utf8), ShardInput.takeOver(takeOver).encoded(), Array(takeOver.symbol.utf8), Array(String(shard).utf8),
                Array(fromTheStart.utf8), Array(String(takeOver.from).utf8),
            ])
        guard let position = reply.integer, position >= 0 else { throw RedisError.unexpectedReply("take over \(reply)") }
        return LogPosition(position)
    }

    /// What one clearing partition routes its outputs by: the registry as of one moment.
    public struct Routing: Sendable {
        public var partition: PartitionID
        /// The partition's last input position when this was read. Outputs up to it route by
        /// this as every later reading would (a change that applies to an output was made
        /// before its input was appended), as long as Redis keeps what it was read from (a
        /// cached reading is checked by `appendGuard` instead); later ones only while no change
        /// was made since (`appendGuard`).
        public var readThrough: LogPosition
        /// Every symbol's current placement.
        public var placements: [String: ShardID]
        public var histories: [String: PlacementHistory]
        /// What an append routed by a cached reading requires: no placement change since (the
        /// change token for changes, the version for those of builds that keep no token).
        public var appendGuard: ReplicaLogStore.AppendGuard

        /// The shard that the partition's output at `position` sends `symbol`'s commands to
        /// (`PlacementHistory`); nil if none holds it. A symbol without a history (placed
        /// before histories were kept), or whose history does not end where it is placed (a
        /// move by a build that kept none), routes to its placement.
        public func shard(of symbol: String, position: LogPosition) -> ShardID? {
            let placement = placements[symbol]
            guard let history = histories[symbol], history.changes.last?.shard == placement else { return placement }
            return history.shard(partition: partition, position: position)
        }
    }

    /// The registry as `partition` routes by it, read at one moment (`MULTI`).
    public func routing(for partition: PartitionID) async throws -> Routing {
        let replies = try await client.pipeline([
            ["MULTI"], ["GET", Self.changeKey], ["HGETALL", Self.key], ["HGETALL", Self.placementHistoryKey],
            ["GET", ReplicaLogKeys.clearingPartition(partition).sequence], ["GET", Self.versionKey], ["EXEC"],
        ])
        guard let results = replies.last?.array, results.count == 5 else { throw RedisError.unexpectedReply("routing \(replies)") }
        return Routing(
            partition: partition, readThrough: LogPosition(results[3].string ?? "0") ?? 0,
            placements: try Self.entries(results[1], what: "symbol registry", Self.placement).mapValues(\.shard),
            histories: try Self.entries(results[2], what: "placement history", PlacementHistory.init(text:)),
            appendGuard: .init([(Self.changeKey, results[0].string ?? ""), (Self.versionKey, results[4].string ?? "")]))
    }

    /// How many times placements changed (registrations and moves).
    public func version() async throws -> UInt64 {
        UInt64(try await client.send(["GET", Self.versionKey]).string ?? "0") ?? 0
    }

    /// The name of every local symbol id any shard ever had, current or handed over.
    public func names() async throws -> [SymbolPlacement: String] {
        var names: [SymbolPlacement: String] = [:]
        for (name, placement) in try await all() { names[placement] = name }
        for (text, name) in try Self.entries(try await client.send(["HGETALL", Self.historyKey]), what: "symbol history", { $0 }) {
            guard let placement = Self.placement(text) else { throw RedisError.unexpectedReply("symbol history entry \(text)") }
            names[placement] = name
        }
        return names
    }

    /// Tells `shard` (a new one) where every registered symbol lives.
    public func announceAll(to shard: ShardID) async throws {
        let payloads = try await all().sorted { $0.key < $1.key }.map { name, placement in
            ShardInput.placement(symbol: name, owner: placement.shard).encoded()
        }
        guard !payloads.isEmpty else { return }
        _ = try await ReplicaLogStore(keys: .matchingShard(shard), client: client).appendInput(payloads)
    }

    /// Every registered symbol's placement, by name.
    public func all() async throws -> [String: SymbolPlacement] {
        try Self.entries(try await client.send(["HGETALL", Self.key]), what: "symbol registry", Self.placement)
    }

    /// An `HGETALL` reply's values, read by `value`, by field (an absent hash has none);
    /// `what` names the hash in the error an unreadable entry throws.
    static func entries<Value>(_ reply: RedisReply, what: String, _ value: (String) -> Value?) throws -> [String: Value] {
        let fields = reply.array ?? []
        var result: [String: Value] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let field = fields[index].string, let text = fields[index + 1].string, let read = value(text) else {
                throw RedisError.unexpectedReply("\(what) entry \(fields[index])")
            }
            result[field] = read
        }
        return result
    }

    static func placement(_ text: String) -> SymbolPlacement? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let shard = ShardID(parts[0]), let local = UInt32(parts[1]) else { return nil }
        return SymbolPlacement(shard: shard, localID: SymbolID(local))
    }
}
