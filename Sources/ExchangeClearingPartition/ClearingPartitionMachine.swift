import ExchangeClearing
import ExchangeCore
import ExchangeReplication

/// A clearing partition as a replicated state machine: input entries are
/// `ClearingLogCodec` inputs, the output of each is its encoded `ClearingEvent`s.
///
/// An entry that does not decode yields an empty event list, deterministically, and counts
/// in `malformedEntries`; none of its commands is applied.
public struct ClearingPartitionMachine: ReplicatedStateMachine, Sendable {
    /// The first word of the machine's snapshot form.
    static let snapshotVersion: UInt64 = 1
    /// Snapshots larger than this are refused as corrupt.
    static let maximumStateBytes: UInt64 = 1 << 34

    public private(set) var state = ClearingState()
    public private(set) var malformedEntries: UInt64 = 0

    public init() {}

    public mutating func apply(_ entry: InputEntry) -> [UInt8] {
        guard let input = try? ClearingLogCodec.decodeInput(entry.payload) else {
            malformedEntries += 1
            return ClearingLogCodec.encode([])
        }
        return ClearingLogCodec.encode(state.apply(input))
    }

    /// `clearing.settle` for what a shard sent back (trade legs, ends, amends), else
    /// `clearing.apply` (traders' places and cancels).
    public static func spanName(of entry: InputEntry) -> String {
        let producer = (try? ClearingLogCodec.decodeProducer(entry.payload))?.name ?? ""
        return producer.hasPrefix(ClearingInput.shardProducerPrefix) ? "clearing.settle" : "clearing.apply"
    }

    public mutating func applyWithoutOutput(_ entry: InputEntry) {
        guard let input = try? ClearingLogCodec.decodeInput(entry.payload) else {
            malformedEntries += 1
            return
        }
        _ = state.apply(input)
    }

    public func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws {
        let bytes = state.snapshotBytes()
        try sink.writeUInt64(Self.snapshotVersion)
        try sink.writeUInt64(malformedEntries)
        try sink.writeUInt64(UInt64(bytes.count))
        try sink.writeBytes(bytes)
    }

    public static func restore<Source: SnapshotByteSource>(from source: inout Source) throws -> ClearingPartitionMachine {
        let version = try source.readUInt64()
        guard version == snapshotVersion else { throw SnapshotError.unsupportedVersion(version) }
        var machine = ClearingPartitionMachine()
        machine.malformedEntries = try source.readUInt64()
        let length = try source.readUInt64()
        guard length <= maximumStateBytes else { throw SnapshotError.exceedsLimits("clearing state of \(length) bytes") }
        machine.state = try ClearingState(snapshotBytes: try source.readBytes(count: Int(length)))
        return machine
    }

    public var stateDigest: UInt64 {
        var checksum = Checksum64()
        checksum.combine(state.stateDigest)
        checksum.combine(malformedEntries)
        return checksum.value
    }
}
