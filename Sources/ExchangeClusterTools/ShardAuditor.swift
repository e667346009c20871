import ExchangeCluster
import ExchangeClusterStore
import ExchangeMatcher
import ExchangeRedis
import ExchangeReplication
import ExchangeSnapshots
import Foundation

/// Replays one replicated log on a fresh `Machine` and checks its output log entry by entry:
/// positions 1, 2, 3... (from the first kept, in a trimmed log) with no gap and no duplicate,
/// each payload byte-equal to the fresh machine's (or to what the log keeps of it), no output
/// beyond the input, epochs never going back; and that live replicas' digests agree with each
/// other and, at the end of the log, with the fresh machine's. A trimmed log is replayed from the published snapshot, and
/// its outputs must still hold every one after that snapshot.
public struct LogReplayAudit<Machine: ReplicatedStateMachine>: Sendable {
    public var inputs: Int
    /// The input position the last output answers (for a whole log, the outputs' count).
    public var outputs: Int
    public var epochs: Set<Epoch>
    public var problems: [String]
    public var replicas: [ReplicaStatus]
    /// The fresh machine after the whole input log.
    public var machine: Machine
    /// The output payloads read, by input position (for checks of their content).
    public var outputPayloads: [(position: LogPosition, payload: [UInt8])]
    /// When the first output kept was appended (µs), if the output log was trimmed: what
    /// came before is no longer in the log.
    public var trimmedBeforeMicroseconds: UInt64?

    /// The position and state to replay from: nothing for a whole log, the published snapshot
    /// for a log trimmed after it.
    static func startingState(store: ReplicaLogStore, firstInput: LogPosition?) async throws -> (LogPosition, Machine) {
        guard let firstInput, firstInput > 1 else { return (0, Machine()) }
        guard let published = try await store.publishedSnapshot(), published.position + 1 >= firstInput else {
            throw AuditError.trimmedWithoutSnapshot(firstInput: firstInput)
        }
        let (position, machine) = try SnapshotFile.read(contents: published.bytes) { source in
            (try source.readUInt64(), try Machine.restore(from: &source))
        }
        guard position == published.position else { throw AuditError.trimmedWithoutSnapshot(firstInput: firstInput) }
        return (position, machine)
    }

    /// - Parameter loggedForm: what the output log keeps of a payload the machine emitted, when
    ///   its forwarder leaves a part out (a shard's hand-over without its book,
    ///   `ShardOutput.logged`); nil when the log keeps payloads whole.
    public init(store: ReplicaLogStore, loggedForm: (@Sendable ([UInt8]) throws -> [UInt8])? = nil) async throws {
        let logs = try await ReplicaLogs(store: store)
        var problems: [String] = []
        // A trimmed log starts after the published snapshot: replay from that snapshot.
        let (start, initial) = try await Self.startingState(store: store, firstInput: logs.inputs.first?.entry.position)
        var machine = initial
        var expected: [LogPosition: [UInt8]] = [:]
        var previous: LogPosition?
        for entry in logs.inputs.map(\.entry) {
            if let previous, entry.position != previous + 1 { problems.append("input position \(entry.position) after \(previous)") }
            previous = entry.position
            // Inputs the snapshot already holds are not applied again.
            guard entry.position > start else { continue }
            expected[entry.position] = machine.apply(entry)
        }
        let inputEnd = max(start, logs.inputs.last?.entry.position ?? 0)
        let firstOutput = logs.outputs.first?.position ?? 1
        if firstOutput > start + 1 {
            problems.append("the output log starts at input \(firstOutput), after the published snapshot at \(start): outputs were trimmed that readers still need")
        }
        var previousEpoch: Epoch = 0
        for (index, output) in logs.outputs.enumerated() {
            let position = firstOutput + LogPosition(index)
            if output.epoch < previousEpoch {
                problems.append("output for input \(position) was appended at epoch \(output.epoch), after epoch \(previousEpoch)")
            }
            previousEpoch = max(previousEpoch, output.epoch)
            guard output.position == position else {
                problems.append("output \(position) is for input \(output.position): \(output.position < position ? "duplicate" : "gap")")
                break
            }
            guard position <= inputEnd else {
                problems.append("output for input \(position) beyond the input log")
                break
            }
            // Outputs of trimmed inputs are checked for order only.
            if let payload = expected[position], output.payload != payload, try loggedForm.map({ try $0(payload) }) != output.payload {
                problems.append("output for input \(position) differs from a fresh replay's")
                if problems.count > 10 { break }
            }
        }
        let replicas = try await store.replicaStatuses()
        for replica in replicas {
            guard let digest = replica.digest, let position = replica.digestPosition else { continue }
            if position == inputEnd, digest != machine.stateDigest {
                problems.append("replica \(replica.name): state digest at \(position) differs from a fresh replay's")
            }
            for other in replicas where other.name > replica.name && other.digestPosition == position && other.digest != digest {
                problems.append("replicas \(replica.name) and \(other.name) differ at \(position)")
            }
        }
        inputs = Int(inputEnd)
        outputs = Int(logs.outputs.last?.position ?? 0)
        epochs = Set(logs.outputs.map(\.epoch))
        self.problems = problems
        self.replicas = replicas
        self.machine = machine
        outputPayloads = logs.outputs.map { ($0.position, $0.payload) }
        trimmedBeforeMicroseconds = firstOutput > 1 ? logs.outputs.first?.appendedAtMicroseconds : nil
    }
}

/// `exchange audit shards`: `LogReplayAudit` of every matching shard.
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
            let audit = try await LogReplayAudit<MatchingShardMachine>(
                store: ReplicaLogStore(keys: .matchingShard(shard), client: client), loggedForm: { try ShardOutput.logged($0) })
            reports.append(ShardReport(
                shard: shard, inputs: audit.inputs, outputs: audit.outputs, epochs: audit.epochs, problems: audit.problems,
                replicas: audit.replicas))
        }
        return reports
    }
}

public enum AuditError: Error, CustomStringConvertible {
    case trimmedWithoutSnapshot(firstInput: LogPosition)

    public var description: String {
        switch self {
        case .trimmedWithoutSnapshot(let first): "the input log starts at \(first) and no published snapshot covers what was trimmed"
        }
    }
}
