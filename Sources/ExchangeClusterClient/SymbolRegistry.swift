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
    static let placementHistoryKey = "cluster:placement-history"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// Lua: `recordPlacement(history key, name, shard, first, count, prior)` appends the change
    /// placing `name` on `shard` to its `PlacementHistory`, with the cuts read from the `count`
    /// clearing input sequence keys from `KEYS[first]` on; `prior` stands for a history not yet
    /// recorded (a symbol registered before histories were kept).
    static let recordPlacementFunction = """
        local function recordPlacement(key, name, shard, first, count, prior)
          local cuts = {}
          for i = first, first + count - 1 do cuts[#cuts + 1] = redis.call('GET', KEYS[i]) or '0' end
          local change = shard .. '@' .. table.concat(cuts, ',')
          local history = redis.call('HGET', key, name) or prior
          if history then change = history .. ';' .. change end
          redis.call('HSET', key, name, change)
        end

        """

    /// The clearing input sequence keys whose positions a placement change records.
    static func partitionSequenceKeys(count: Int) -> [String] {
        (0..<count).map { ReplicaLogKeys.clearingPartition(PartitionID($0)).sequence }
    }

    /// KEYS: registry, counts, history, version, placement history, the partitions' input
    /// sequences (ARGV[5] of them), then (input, sequence) of the owner and of every other
    /// shard. ARGV: name, owner, the owner's entry, the others' entry, partition count.
    static let registerScript = RedisScript(source: recordPlacementFunction + """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then return existing end
        local count = redis.call('HINCRBY', KEYS[2], ARGV[2], 1) - 1
        local placement = ARGV[2] .. ':' .. count
        redis.call('HSET', KEYS[1], ARGV[1], placement)
        redis.call('HSET', KEYS[3], placement, ARGV[1])
        redis.call('INCR', KEYS[4])
        local partitions = tonumber(ARGV[5])
        recordPlacement(KEYS[5], ARGV[1], ARGV[2], 6, partitions, nil)
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        local owner = 6 + partitions
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
        var keys = [Self.key, Self.countsKey, Self.historyKey, Self.versionKey, Self.placementHistoryKey]
        keys += Self.partitionSequenceKeys(count: partitionCount)
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
    /// registry, counts, history, version, placement history, then the partitions' input
    /// sequences. ARGV: tag (the hand-over's position on the old owner), the `takeOver` entry,
    /// name, new owner, the placement history of a symbol that has none recorded (its old
    /// owner from the start). Appends the entry and places the symbol on the new owner under
    /// the next local id, once per tag (0 when already done).
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
        redis.call('INCR', KEYS[7])
        recordPlacement(KEYS[8], ARGV[3], ARGV[4], 9, #KEYS - 8, ARGV[5])
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
        let keys = [
            logKeys.input, logKeys.sequence, logKeys.lastTag(producer: producer), Self.key, Self.countsKey, Self.historyKey, Self.versionKey,
            Self.placementHistoryKey,
        ] + Self.partitionSequenceKeys(count: partitionCount)
        let fromTheStart = "\(takeOver.from)@" + Array(repeating: "0", count: partitionCount).joined(separator: ",")
        let reply = try await Self.takeOverScript.run(
            on: client, keys: keys,
            binaryArguments: [
                Array(String(tag).utf8), ShardInput.takeOver(takeOver).encoded(), Array(takeOver.symbol.utf8), Array(String(shard).utf8),
                Array(fromTheStart.utf8),
            ])
        guard let position = reply.integer, position >= 0 else { throw RedisError.unexpectedReply("take over \(reply)") }
        return LogPosition(position)
    }

    /// What clearing routes its outputs by: the registry at one version.
    public struct Routing: Sendable {
        /// The placement of every symbol no history was recorded for (registered before
        /// histories were kept, and never moved since).
        public var placements: [String: ShardID]
        public var histories: [String: PlacementHistory]
        /// What an append routed by this requires: the registry still at the version read.
        public var appendGuard: ReplicaLogStore.AppendGuard

        /// The shard that `partition`'s output at `position` sends `symbol`'s commands to
        /// (`PlacementHistory`); nil if none holds it.
        public func shard(of symbol: String, partition: PartitionID, position: LogPosition) -> ShardID? {
            if let history = histories[symbol] { return history.shard(partition: partition, position: position) }
            return placements[symbol]
        }
    }

    /// The registry as clearing routes by it. The version is read first: a change made
    /// while the rest is read fails the guard of the appends routed by it, never passes it.
    public func routing() async throws -> Routing {
        let version = try await client.send(["GET", Self.versionKey]).string ?? ""
        let placements = try await all().mapValues(\.shard)
        let histories = try await entries(of: Self.placementHistoryKey, what: "placement history", PlacementHistory.init(text:))
        return Routing(placements: placements, histories: histories, appendGuard: .init(key: Self.versionKey, value: version))
    }

    /// How many times placements changed (registrations and moves).
    public func version() async throws -> UInt64 {
        UInt64(try await client.send(["GET", Self.versionKey]).string ?? "0") ?? 0
    }

    /// The name of every local symbol id any shard ever had, current or handed over.
    public func names() async throws -> [SymbolPlacement: String] {
        var names: [SymbolPlacement: String] = [:]
        for (name, placement) in try await all() { names[placement] = name }
        for (text, name) in try await entries(of: Self.historyKey, what: "symbol history", { $0 }) {
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
        try await entries(of: Self.key, what: "symbol registry", Self.placement)
    }

    /// Hash `key`'s values, read by `value`, by field (an absent hash has none); `what` names
    /// the hash in the error an unreadable entry throws.
    func entries<Value>(of key: String, what: String, _ value: (String) -> Value?) async throws -> [String: Value] {
        let fields = try await client.send(["HGETALL", key]).array ?? []
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
