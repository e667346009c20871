import ExchangeCluster
import ExchangeCore
import ExchangeRedis

/// Where a symbol lives: its shard and its id in that shard's engine.
public struct SymbolPlacement: Sendable, Hashable {
    public var shard: ShardID
    public var localID: SymbolID
}

/// The cluster's symbols in Redis (`cluster:symbols`: name → `shard:localID`). Registering a
/// symbol appends its `addSymbol` to the owning shard's input log in the same script, so the
/// local id handed out is exactly the id that shard's engine assigns.
public struct SymbolRegistry: Sendable {
    public static let key = "cluster:symbols"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    static let registerScript = RedisScript(source: """
        local existing = redis.call('HGET', KEYS[1], ARGV[1])
        if existing then return existing end
        local count = redis.call('HINCRBY', KEYS[4], ARGV[2], 1) - 1
        local placement = ARGV[2] .. ':' .. count
        redis.call('HSET', KEYS[1], ARGV[1], placement)
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        local position = redis.call('INCR', KEYS[3])
        redis.call('XADD', KEYS[2], position .. '-1', 'd', ARGV[3], 't', micros, 'g', 'symbol')
        return placement
        """)

    /// Registers `spec` on `shard` (or returns where it already is).
    public func register(_ spec: SymbolSpec, on shard: ShardID) async throws -> SymbolPlacement {
        let keys = ReplicaLogKeys.matchingShard(shard)
        let reply = try await Self.registerScript.run(
            on: client, keys: [Self.key, keys.input, keys.sequence, "cluster:symbol-counts"],
            binaryArguments: [Array(spec.name.utf8), Array(String(shard).utf8), LogCodec.encode(.addSymbol(AddSymbol(spec: spec)))])
        guard let text = reply.string, let placement = Self.placement(text) else {
            throw RedisError.unexpectedReply("register \(reply)")
        }
        return placement
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
