import ExchangeCluster
import ExchangeCore

/// What one command of a shard input entry led to.
public enum CommandOutcome: Equatable, Sendable {
    /// The engine applied it; its events, symbol ids being the shard's engine ids.
    case events([MatchingEvent])
    /// The shard does not hold the command's symbol: nothing was applied. `owner` is the shard
    /// its placement directory names, nil when no shard is known to hold it.
    case misrouted(symbol: String, owner: ShardID?)

    /// The events, empty for a misrouted command.
    public var events: [MatchingEvent] {
        if case .events(let events) = self { return events }
        return []
    }
}

/// The output payload of one shard input entry: one outcome per command, in order
/// (none for a `placement` entry or an entry that did not decode).
///
/// Layout: `count · outcome…`; an outcome is `0 · eventCount · (length · LogCodec event)…`
/// or `1 · name · owner` (owner + 1, 0 for none).
public enum ShardOutput {
    enum Kind: UInt8 {
        case events = 0, misrouted = 1
    }

    /// Appends outputs to one payload without intermediate arrays.
    public struct Writer: Sendable {
        public private(set) var writer = BinaryWriter(capacity: 1_024)
        private var scratch = BinaryWriter(capacity: 64)

        public init(count: Int) { writer.writeVarint(UInt64(count)) }

        public mutating func appendEvents(_ events: [MatchingEvent]) {
            writer.writeByte(Kind.events.rawValue)
            writer.writeVarint(UInt64(events.count))
            for event in events {
                scratch.removeAll()
                LogCodec.encode(event, into: &scratch)
                writer.writeVarint(UInt64(scratch.bytes.count))
                writer.writeBytes(scratch.bytes)
            }
        }

        public mutating func appendMisrouted(symbol: String, owner: ShardID?) {
            writer.writeByte(Kind.misrouted.rawValue)
            writer.writeString(symbol)
            writer.writeVarint(owner.map { UInt64($0) + 1 } ?? 0)
        }

        public var bytes: [UInt8] { writer.bytes }
    }

    public static func encode(_ outcomes: [CommandOutcome]) -> [UInt8] {
        var writer = Writer(count: outcomes.count)
        for outcome in outcomes {
            switch outcome {
            case .events(let events): writer.appendEvents(events)
            case .misrouted(let symbol, let owner): writer.appendMisrouted(symbol: symbol, owner: owner)
            }
        }
        return writer.bytes
    }

    /// The number of outcomes in `payload` (its first varint), without decoding the rest.
    public static func count(of payload: [UInt8]) throws(BinaryDecodingError) -> Int {
        var reader = BinaryReader(payload)
        return Int(try reader.readVarint())
    }

    public static func decode(_ payload: [UInt8]) throws(BinaryDecodingError) -> [CommandOutcome] {
        var reader = BinaryReader(payload)
        let count = try reader.readVarint()
        guard count <= UInt64(payload.count) else { throw .invalidValue("outcome count \(count)") }
        var outcomes: [CommandOutcome] = []
        outcomes.reserveCapacity(Int(count))
        for _ in 0..<count {
            switch try reader.readEnum(Kind.self) {
            case .events:
                let eventCount = try reader.readVarint()
                guard eventCount <= UInt64(payload.count) else { throw .invalidValue("event count \(eventCount)") }
                var events: [MatchingEvent] = []
                for _ in 0..<eventCount {
                    let length = Int(try reader.readVarint())
                    guard length <= payload.count - reader.offset else { throw .truncated }
                    events.append(try LogCodec.decodeEvent(payload[reader.offset..<(reader.offset + length)]))
                    try reader.skip(length)
                }
                outcomes.append(.events(events))
            case .misrouted:
                let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
                let owner = try reader.readVarint()
                guard owner <= UInt64(ShardID.max) + 1 else { throw .invalidValue("owner \(owner)") }
                outcomes.append(.misrouted(symbol: symbol, owner: owner == 0 ? nil : ShardID(owner - 1)))
            }
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return outcomes
    }
}
