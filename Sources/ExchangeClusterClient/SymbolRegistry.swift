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
public struct SymbolRegistry: Sendable {
    public static let key = "cluster:symbols"
    static let historyKey = "cluster:symbol-ids"
    static let countsKey = "cluster:symbol-counts"
    public static let versionKey = "cluster:symbols:version"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// KEYS: registry, counts, history, version, then (input, sequence) of the owner and of
    /// every other shard. ARGV: name, owner, the owner's entry, the others' entry.
    static let registerScript = RedisScript(source: """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then return existing end
        local count = redis.call('HINCRBY', KEYS[2], ARGV[2], 1) - 1
        local placement = ARGV[2] .. ':' .. count
        redis.call('HSET', KEYS[1], ARGV[1], placement)
        redis.call('HSET', KEYS[3], placement, ARGV[1])
        redis.call('INCR', KEYS[4])
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        for i = 5, #KEYS, 2 do
          local position = redis.call('INCR', KEYS[i + 1])
          local payload = ARGV[4]
          if i == 5 then payload = ARGV[3] end
          redis.call('XADD', KEYS[i], position .. '-1', 'd', payload, 't', micros, 'g', 'symbol')
        end
        return placement
        """)

    /// Registers `spec` on `shard` (or returns where it already is), telling `otherShards`
    /// where it lives.
    public func register(_ spec: SymbolSpec, on shard: ShardID, otherShards: [ShardID]) async throws -> SymbolPlacement {
        var keys = [Self.key, Self.countsKey, Self.historyKey, Self.versionKey]
        for target in [shard] + otherShards.filter({ $0 != shard }) {
            let logKeys = ReplicaLogKeys.matchingShard(target)
            keys += [logKeys.input, logKeys.sequence]
        }
        let reply = try await Self.registerScript.run(
            on: client, keys: keys,
            binaryArguments: [
                Array(spec.name.utf8), Array(String(shard).utf8), ShardInput.addSymbol(spec).encoded(),
                ShardInput.placement(symbol: spec.name, owner: shard).encoded(),
            ])
        guard let text = reply.string, let placement = Self.placement(text) else {
            throw RedisError.unexpectedReply("register \(reply)")
        }
        return placement
    }

    /// KEYS: the new owner's input, sequence and last tag of the old owner's forwarder;
    /// registry, counts, history, version. ARGV: tag (the hand-over's position on the old
    /// owner), the `takeOver` entry, name, new owner. Appends the entry and places the symbol
    /// on the new owner under the next local id, once per tag (0 when already done).
    static let takeOverScript = RedisScript(source: """
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
        return position
        """)

    /// Appends `takeOver` to the log of `shard` (the symbol's new owner) and places the symbol
    /// there, exactly once per hand-over: `producer` is the old owner's forwarder, `tag` the
    /// hand-over's input position there. Returns the entry's position (0 if already appended).
    public func placeTakeOver(_ takeOver: ShardInput.TakeOver, on shard: ShardID, producer: String, tag: LogPosition) async throws -> LogPosition {
        let logKeys = ReplicaLogKeys.matchingShard(shard)
        let reply = try await Self.takeOverScript.run(
            on: client, keys: [logKeys.input, logKeys.sequence, logKeys.lastTag(producer: producer), Self.key, Self.countsKey, Self.historyKey, Self.versionKey],
            binaryArguments: [Array(String(tag).utf8), ShardInput.takeOver(takeOver).encoded(), Array(takeOver.symbol.utf8), Array(String(shard).utf8)])
        guard let position = reply.integer, position >= 0 else { throw RedisError.unexpectedReply("take over \(reply)") }
        return LogPosition(position)
    }

    /// How many times placements changed (registrations and moves).
    public func version() async throws -> UInt64 {
        UInt64(try await client.send(["GET", Self.versionKey]).string ?? "0") ?? 0
    }

    /// The name of every local symbol id any shard ever had, current or handed over.
    public func names() async throws -> [SymbolPlacement: String] {
        var names: [SymbolPlacement: String] = [:]
        for (name, placement) in try await all() { names[placement] = name }
        let fields = try await client.send(["HGETALL", Self.historyKey]).array ?? []
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let text = fields[index].string, let placement = Self.placement(text), let name = fields[index + 1].string else {
                throw RedisError.unexpectedReply("symbol history entry \(fields[index])")
            }
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
        guard let fields = try await client.send(["HGETALL", Self.key]).array else { return [:] }
        var result: [String: SymbolPlacement] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            guard let name = fields[index].string, let text = fields[index + 1].string, let placement = Self.placement(text) else {
                throw RedisError.unexpectedReply("symbol registry entry \(fields[index])")
            }
            result[name] = placement
        }
        return result
    }

    static func placement(_ text: String) -> SymbolPlacement? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let shard = ShardID(parts[0]), let local = UInt32(parts[1]) else { return nil }
        return SymbolPlacement(shard: shard, localID: SymbolID(local))
    }
}
