import ExchangeCore
import ExchangeMatching
import ExchangeReplication

/// A matching shard as a replicated state machine: input entries are `LogCodec` commands,
/// the output of each entry is its events, framed as `count · (length · event)…` (varints).
///
/// An entry that does not decode yields an empty event list, deterministically, and counts in
/// `malformedEntries` (producers validate before appending, so this means a bug or corruption).
public struct MatchingShardMachine: ReplicatedStateMachine, Sendable {
    public static let limits = MatchingEngine.Limits(maximumSymbols: 16_384, maximumRestingOrders: 1 << 20)

    public private(set) var engine: MatchingEngine
    public private(set) var malformedEntries: UInt64 = 0
    private var events: [MatchingEvent] = []

    public init() {
        engine = MatchingEngine(limits: Self.limits)
        events.reserveCapacity(1_024)
    }

    public mutating func apply(_ entry: InputEntry) -> [UInt8] {
        events.removeAll(keepingCapacity: true)
        do {
            engine.apply(try LogCodec.decodeCommand(entry.payload), into: &events)
        } catch {
            malformedEntries += 1
        }
        return Self.encode(events)
    }

    /// `count · (length · LogCodec event)…`.
    public static func encode(_ events: [MatchingEvent]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 16 + events.count * 48)
        writer.writeVarint(UInt64(events.count))
        for event in events {
            let bytes = LogCodec.encode(event)
            writer.writeVarint(UInt64(bytes.count))
            for byte in bytes { writer.writeByte(byte) }
        }
        return writer.bytes
    }

    /// Splits an output payload back into events.
    public static func decode(_ payload: [UInt8]) throws(BinaryDecodingError) -> [MatchingEvent] {
        var reader = BinaryReader(payload)
        let count = try reader.readVarint()
        guard count <= UInt64(payload.count) else { throw .invalidValue("event count \(count)") }
        var events: [MatchingEvent] = []
        for _ in 0..<count {
            let length = Int(try reader.readVarint())
            guard length <= payload.count - reader.offset else { throw .truncated }
            events.append(try LogCodec.decodeEvent(payload[reader.offset..<(reader.offset + length)]))
            for _ in 0..<length { _ = try reader.readByte() }
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return events
    }

    public func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws {
        try sink.writeUInt64(malformedEntries)
        try engine.writeSnapshot(to: &sink)
    }

    public static func restore<Source: SnapshotByteSource>(from source: inout Source) throws -> MatchingShardMachine {
        var machine = MatchingShardMachine()
        machine.malformedEntries = try source.readUInt64()
        machine.engine = try MatchingEngine.restore(limits: limits, from: &source)
        return machine
    }

    public var stateDigest: UInt64 {
        var checksum = Checksum64()
        checksum.combine(engine.stateDigest)
        checksum.combine(malformedEntries)
        return checksum.value
    }
}
