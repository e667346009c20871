import ExchangeCluster
import ExchangeCore
import ExchangeReplication

/// What one command of a shard input entry led to.
public enum CommandOutcome: Equatable, Sendable {
    /// The engine applied it; its events, symbol ids being the shard's engine ids.
    case events([MatchingEvent])
    /// The shard does not hold the command's symbol: nothing was applied. `owner` is the shard
    /// its placement directory names, nil when no shard is known to hold it.
    case misrouted(symbol: String, owner: ShardID?)
    /// A `handOver` took the symbol's book out (a tombstone stays at `tombstone`), or a
    /// `takeOver` was refused (`tombstone` nil): the book must go to shard `to`.
    case handedOver(HandedOver)
    /// A `takeOver` added the book as local symbol `symbolID`, which trades from here on.
    case tookOver(TookOver)
    /// A move of `symbol`'s book is under way on this shard: the entry took it (or the move
    /// before it) one step; the shard's forwarder appends a `continueMove` for the next.
    case moveContinues(symbol: String)

    public struct HandedOver: Equatable, Sendable {
        public var symbol: String
        public var to: ShardID
        public var tombstone: SymbolID?
        public var restingOrders: Int
        /// The symbol's last market-data update id here (`MatchingShardMachine.updateIDOffsets`).
        public var lastUpdateID: UInt64
        /// The book in `MatchingEngine`'s hand-over form. Empty as the output log keeps it when
        /// the shard runs with a forwarder (on the order path): the forwarder appends the book to
        /// shard `to`'s input log, and leaves it out of the output it logs (`OrderPathForwarder`).
        public var book: [UInt8]
        /// Why a `takeOver` was refused; empty for a `handOver`.
        public var refusal: String

        public init(symbol: String, to: ShardID, tombstone: SymbolID?, restingOrders: Int, lastUpdateID: UInt64, book: [UInt8], refusal: String = "") {
            self.symbol = symbol
            self.to = to
            self.tombstone = tombstone
            self.restingOrders = restingOrders
            self.lastUpdateID = lastUpdateID
            self.book = book
            self.refusal = refusal
        }
    }

    public struct TookOver: Equatable, Sendable {
        public var symbol: String
        public var symbolID: SymbolID
        public var from: ShardID
        /// `from`'s input position of the hand-over: a reader of both logs applies this shard's
        /// later entries for the symbol only once it has read `from`'s log that far.
        public var fromPosition: LogPosition
        /// Added to this shard's input positions to give the symbol's market-data update ids.
        public var updateIDOffset: UInt64
        /// The input position of the `takeOver` entry carrying the book, when not this
        /// output's own (a book of more than `MatchingShardMachine.takeOverStepOrders` orders
        /// goes in over several entries).
        public var bookPosition: LogPosition?

        public init(
            symbol: String, symbolID: SymbolID, from: ShardID, fromPosition: LogPosition, updateIDOffset: UInt64, bookPosition: LogPosition? = nil
        ) {
            self.symbol = symbol
            self.symbolID = symbolID
            self.from = from
            self.fromPosition = fromPosition
            self.updateIDOffset = updateIDOffset
            self.bookPosition = bookPosition
        }
    }

    /// The events, empty for a misrouted command.
    public var events: [MatchingEvent] {
        if case .events(let events) = self { return events }
        return []
    }
}

/// The output payload of one shard input entry: one outcome per command, in order
/// (none for a `placement` entry or an entry that did not decode).
///
/// Layout: `count · outcome…`; an outcome is `0 · eventCount · (length · LogCodec event)…`,
/// `1 · name · owner` (owner + 1, 0 for none), `2 · name · to · tombstone (id + 1, 0 for
/// none) · restingOrders · lastUpdateID · book block · refusal` (handed over), `3 · name ·
/// symbolID · from · fromPosition · updateIDOffset` (took over, the book in this entry), `4 ·`
/// the same `· bookPosition` (took over a book from an earlier entry) or `5 · name` (move
/// continues).
public enum ShardOutput {
    enum Kind: UInt8 {
        case events = 0, misrouted = 1, handedOver = 2, tookOver = 3, tookOverLater = 4, moveContinues = 5
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

        public mutating func appendHandedOver(_ handedOver: CommandOutcome.HandedOver) {
            writer.writeByte(Kind.handedOver.rawValue)
            writer.writeString(handedOver.symbol)
            writer.writeVarint(UInt64(handedOver.to))
            writer.writeVarint(handedOver.tombstone.map { UInt64($0.rawValue) + 1 } ?? 0)
            writer.writeVarint(UInt64(handedOver.restingOrders))
            writer.writeVarint(handedOver.lastUpdateID)
            writer.writeBlock(handedOver.book)
            writer.writeString(handedOver.refusal)
        }

        public mutating func appendTookOver(_ tookOver: CommandOutcome.TookOver) {
            writer.writeByte(tookOver.bookPosition == nil ? Kind.tookOver.rawValue : Kind.tookOverLater.rawValue)
            writer.writeString(tookOver.symbol)
            writer.writeVarint(UInt64(tookOver.symbolID.rawValue))
            writer.writeVarint(UInt64(tookOver.from))
            writer.writeVarint(tookOver.fromPosition)
            writer.writeVarint(tookOver.updateIDOffset)
            if let bookPosition = tookOver.bookPosition { writer.writeVarint(bookPosition) }
        }

        public mutating func appendMoveContinues(symbol: String) {
            writer.writeByte(Kind.moveContinues.rawValue)
            writer.writeString(symbol)
        }

        public mutating func append(_ outcome: CommandOutcome) {
            switch outcome {
            case .events(let events): appendEvents(events)
            case .misrouted(let symbol, let owner): appendMisrouted(symbol: symbol, owner: owner)
            case .handedOver(let handedOver): appendHandedOver(handedOver)
            case .tookOver(let tookOver): appendTookOver(tookOver)
            case .moveContinues(let symbol): appendMoveContinues(symbol: symbol)
            }
        }

        public var bytes: [UInt8] { writer.bytes }
    }

    public static func encode(_ outcomes: [CommandOutcome]) -> [UInt8] {
        var writer = Writer(count: outcomes.count)
        for outcome in outcomes { writer.append(outcome) }
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
            let kind = try reader.readEnum(Kind.self)
            switch kind {
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
            case .handedOver:
                let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
                let to = try ShardInput.readShard(&reader)
                let tombstone = try reader.readVarint()
                guard tombstone <= UInt64(UInt32.max) + 1 else { throw .invalidValue("tombstone \(tombstone)") }
                let restingOrders = try reader.readVarint()
                guard restingOrders <= UInt64(Int32.max) else { throw .invalidValue("resting orders \(restingOrders)") }
                let lastUpdateID = try reader.readVarint()
                let book = try reader.readBlock(maximumLength: ShardInput.maximumBookBytes)
                outcomes.append(.handedOver(CommandOutcome.HandedOver(
                    symbol: symbol, to: to, tombstone: tombstone == 0 ? nil : SymbolID(UInt32(tombstone - 1)),
                    restingOrders: Int(restingOrders), lastUpdateID: lastUpdateID, book: book,
                    refusal: try reader.readString(maximumLength: 1_024))))
            case .tookOver, .tookOverLater:
                let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
                let symbolID = try reader.readVarint()
                guard symbolID <= UInt64(UInt32.max) else { throw .invalidValue("symbol id \(symbolID)") }
                let from = try ShardInput.readShard(&reader)
                var tookOver = CommandOutcome.TookOver(
                    symbol: symbol, symbolID: SymbolID(UInt32(symbolID)), from: from, fromPosition: try reader.readVarint(),
                    updateIDOffset: try reader.readVarint())
                if kind == .tookOverLater { tookOver.bookPosition = try reader.readVarint() }
                outcomes.append(.tookOver(tookOver))
            case .moveContinues:
                outcomes.append(.moveContinues(symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength)))
            }
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return outcomes
    }
}

extension ShardOutput {
    /// One entry's `outcomes` as the output log keeps them, nil when that is as emitted: with
    /// the handed-over books left out (the forwarder appends each to its new owner's input log
    /// before the output is logged; see `CommandOutcome.HandedOver.book`).
    public static func loggedForm(of outcomes: [CommandOutcome]) -> [CommandOutcome]? {
        guard outcomes.contains(where: { if case .handedOver(let handedOver) = $0 { !handedOver.book.isEmpty } else { false } }) else { return nil }
        return outcomes.map { outcome in
            guard case .handedOver(var handedOver) = outcome else { return outcome }
            handedOver.book = []
            return .handedOver(handedOver)
        }
    }

    /// An emitted `payload` as the output log keeps it (`loggedForm(of:)`).
    public static func logged(_ payload: [UInt8]) throws(BinaryDecodingError) -> [UInt8] {
        loggedForm(of: try decode(payload)).map(encode) ?? payload
    }
}

/// Readers of several shards' outputs apply a moved symbol's events in order: what its old
/// owner emitted up to the hand-over before what the new owner emits from the take-over on.
public enum HandOverOrder {
    /// The take-overs of one output entry's outcomes.
    public static func takeOvers(_ outcomes: [CommandOutcome]) -> [CommandOutcome.TookOver] {
        outcomes.compactMap { if case .tookOver(let tookOver) = $0 { tookOver } else { nil } }
    }

    /// The index of the first entry of a page (`pages[i]`: entry i's outcomes) that takes over
    /// a book whose old owner's output the reader has not applied up to the hand-over
    /// (`applied(shard)`: the last input position applied of that shard's output); nil when
    /// the whole page may be applied. Entries from that index on wait for the old owner.
    public static func firstWaiting(_ pages: [[CommandOutcome]], applied: (ShardID) -> LogPosition) -> Int? {
        pages.firstIndex { outcomes in takeOvers(outcomes).contains { applied($0.from) < $0.fromPosition } }
    }
}
