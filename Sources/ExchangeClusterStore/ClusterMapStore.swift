import ExchangeCluster
import ExchangeRedis
import Foundation

/// The cluster map in Redis: one JSON document under `cluster:map`, replaced only by a
/// compare-and-set on its version, so two operators' changes never overwrite each other.
public struct ClusterMapStore: Sendable {
    public static let key = "cluster:map"
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    /// ARGV: expected version ("0": the map must not exist), new version, JSON.
    static let replaceScript = RedisScript(source: """
        local stored = redis.call('GET', KEYS[1])
        local version = 0
        if stored then version = cjson.decode(stored)['version'] end
        if tostring(version) ~= ARGV[1] then
          return redis.error_reply('VERSION ' .. tostring(version))
        end
        redis.call('SET', KEYS[1], ARGV[3])
        return tonumber(ARGV[2])
        """)

    /// The stored map, or nil before `ctl init`.
    public func load() async throws -> ClusterMap? {
        let reply = try await client.send(["GET", Self.key])
        guard case .bulk(let bytes) = reply else { return nil }
        do {
            return try JSONDecoder().decode(ClusterMap.self, from: Data(bytes))
        } catch {
            throw ClusterMapStoreError.corrupt("\(error)")
        }
    }

    /// Stores `map` if the stored version is `map.version - 1` (or none for version 1).
    public func replace(with map: ClusterMap) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(map), as: UTF8.self)
        do {
            _ = try await Self.replaceScript.run(
                on: client, keys: [Self.key], arguments: [String(map.version - 1), String(map.version), json])
        } catch RedisError.server(let message) where message.hasPrefix("VERSION ") {
            throw ClusterMapStoreError.versionConflict(stored: UInt64(message.dropFirst("VERSION ".count)) ?? 0, expected: map.version - 1)
        }
    }

    /// Loads the map, applies `change`, stores the result (version + 1 by construction).
    public func update(_ change: (ClusterMap) throws -> ClusterMap) async throws -> ClusterMap {
        guard let current = try await load() else { throw ClusterMapStoreError.notInitialized }
        let next = try change(current)
        try await replace(with: next)
        return next
    }
}

public enum ClusterMapStoreError: Error, Equatable, CustomStringConvertible {
    case notInitialized
    case versionConflict(stored: UInt64, expected: UInt64)
    case corrupt(String)

    public var description: String {
        switch self {
        case .notInitialized: "no cluster map in Redis: run `exchange ctl init` first"
        case .versionConflict(let stored, let expected): "the cluster map changed meanwhile (version \(stored), expected \(expected)): retry"
        case .corrupt(let reason): "the stored cluster map is not valid JSON: \(reason)"
        }
    }
}
