import ExchangeCluster
import ExchangeCore
import ExchangeMatcher
import ExchangeRedis

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
public struct SymbolRegistry: Sendable {
    public static let key = "cluster:symbols"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// KEYS: registry, counts, then (input, sequence) of the owner and of every other shard.
    /// ARGV: name, owner, the owner's entry, the others' entry.
    static let registerScript = RedisScript(source: """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then return existing end
        local count = redis.call('HINCRBY', KEYS[2], ARGV[2], 1) - 1
        local placement = ARGV[2] .. ':' .. count
        redis.call('HSET', KEYS[1], ARGV[1], placement)
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        for i = 3, #KEYS, 2 do
          local position = redis.call('INCR', KEYS[i + 1])
          local payload = ARGV[4]
          if i == 3 then payload = ARGV[3] end
          redis.call('XADD', KEYS[i], position .. '-1', 'd', payload, 't', micros, 'g', 'symbol')
        end
        return placement
        """)

    /// Registers `spec` on `shard` (or returns where it already is), telling `otherShards`
    /// where it lives.
    public func register(_ spec: SymbolSpec, on shard: ShardID, otherShards: [ShardID]) async throws -> SymbolPlacement {
        var keys = [Self.key, "cluster:symbol-counts"]
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
