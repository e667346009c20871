import ExchangeCluster
import ExchangeClusterStore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication

/// `exchange audit shards`: replays every shard's input log on a fresh engine and checks its
/// output log entry by entry: positions 1, 2, 3... with no gap and no duplicate, each payload
/// byte-equal to the fresh engine's, and no output beyond the input.
public struct ShardAuditor: Sendable {
    public struct ShardReport: Sendable {
        public var shard: ShardID
        public var inputs: Int
        public var outputs: Int
        public var epochs: Set<Epoch>
        public var problems: [String]
        public var replicas: [ReplicaStatus]
    }

    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func audit() async throws -> [ShardReport] {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        var reports: [ShardReport] = []
        for shard in map.shards.map(\.id) {
            let store = ReplicaLogStore(keys: .matchingShard(shard), client: client)
            let logs = try await ShardLogs(store: store)
            var problems: [String] = []
            var machine = MatchingShardMachine()
            var expected: [[UInt8]] = []
            for (index, (entry, _)) in logs.inputs.enumerated() {
                if entry.position != LogPosition(index + 1) { problems.append("input position \(entry.position) at index \(index)") }
                expected.append(machine.apply(entry))
            }
            for (index, output) in logs.outputs.enumerated() {
                let position = LogPosition(index + 1)
                guard output.position == position else {
                    problems.append("output \(index + 1) is for input \(output.position): \(output.position < position ? "duplicate" : "gap")")
                    break
                }
                guard index < expected.count else {
                    problems.append("output for input \(position) beyond the input log")
                    break
                }
                if output.payload != expected[index] {
                    problems.append("output for input \(position) differs from a fresh engine's")
                    if problems.count > 10 { break }
                }
            }
            // Live replicas at the same position must have the same state, and it must be the
            // fresh engine's when that position is the end of the log.
            let replicas = try await store.replicaStatuses()
            for replica in replicas {
                guard let digest = replica.digest, let position = replica.digestPosition else { continue }
                if position == LogPosition(logs.inputs.count), digest != machine.stateDigest {
                    problems.append("replica \(replica.name): state digest at \(position) differs from a fresh engine's")
                }
                for other in replicas where other.name > replica.name && other.digestPosition == position && other.digest != digest {
                    problems.append("replicas \(replica.name) and \(other.name) differ at \(position)")
                }
            }
            reports.append(ShardReport(
                shard: shard, inputs: logs.inputs.count, outputs: logs.outputs.count, epochs: Set(logs.outputs.map(\.epoch)),
                problems: problems, replicas: replicas))
        }
        return reports
    }
}
