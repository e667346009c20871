import ExchangeCluster
import ExchangeCore
import ExchangeReplication

/// One entry of a matching shard's input log (`me:{s}:in`).
///
/// Layout: `version (1 byte) · kind (1 byte) · fields`, varints as in `LogCodec`.
/// - `commands`: `symbolCount · (name)… · commandCount · (length · LogCodec command)…`.
///   A command's `symbolID` is an index into the entry's own symbol names, not an engine id:
///   producers address symbols by name, so the shard itself checks that it owns each one
///   (and answers with the owner when it does not). `addSymbol` names its symbol in its spec;
///   its `symbolID`-free encoding is unchanged.
/// - `placement`: `name · owner shard`: symbol `name` is held by shard `owner`. Registration
///   appends one to every other shard, so each shard can name the owner of any symbol.
/// - `handOver`: `name · to shard`: give symbol `name`'s book to shard `to` (`ctl move`
///   appends it to the owner's log); the output carries the book (`CommandOutcome.handedOver`)
///   to the forwarder, which appends it to shard `to`'s log and leaves it out of the output log
///   (a shard without a forwarder logs it whole).
/// - `takeOver`: `name · from shard · from position · last update id · book block`: the book
///   shard `from` handed over at its input `from position` (appended by `from`'s forwarder).
/// - `continueMove` (no fields): take the move under way one step further (appended by this
///   shard's own forwarder after each output that says `moveContinues`).
///
/// Many commands per entry is what makes the log fast: Redis work is per entry, not per
/// command. Decoding refuses unknown versions and kinds, bad indices, truncation and
/// trailing bytes, so a corrupt entry is never half-applied.
public enum ShardInput: Equatable, Sendable {
    case commands(symbols: [String], commands: [MatchingCommand])
    case placement(symbol: String, owner: ShardID)
    case handOver(symbol: String, to: ShardID)
    case takeOver(TakeOver)
    case continueMove

    /// A book arriving from another shard.
    public struct TakeOver: Equatable, Sendable {
        public var symbol: String
        public var from: ShardID
        /// The input position on `from` where the book left: the entry whose output carries it.
        public var fromPosition: LogPosition
        /// The symbol's last market-data update id on `from` (see `MatchingShardMachine.updateIDOffsets`).
        public var lastUpdateID: UInt64
        /// The book, in `MatchingEngine`'s hand-over form.
        public var book: [UInt8]

        public init(symbol: String, from: ShardID, fromPosition: LogPosition, lastUpdateID: UInt64, book: [UInt8]) {
            self.symbol = symbol
            self.from = from
            self.fromPosition = fromPosition
            self.lastUpdateID = lastUpdateID
            self.book = book
        }
    }

    public static let version: UInt8 = 1
    /// At most this many commands (and symbol names) per entry.
    public static let maximumCommands = 65_536
    /// The largest handed-over book an entry carries: 1M resting orders at ~20 bytes each.
    public static let maximumBookBytes = 64 << 20

    enum Kind: UInt8 {
        case commands = 1, placement = 2, handOver = 3, takeOver = 4, continueMove = 5
    }

    /// An entry adding one symbol (what registration appends to the owning shard).
    public static func addSymbol(_ spec: SymbolSpec) -> ShardInput {
        .commands(symbols: [], commands: [.addSymbol(AddSymbol(spec: spec))])
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        writer.writeByte(Self.version)
        switch self {
        case .commands(let symbols, let commands):
            writer.writeByte(Kind.commands.rawValue)
            writer.writeVarint(UInt64(symbols.count))
            for symbol in symbols { writer.writeString(symbol) }
            writer.writeVarint(UInt64(commands.count))
            var scratch = BinaryWriter(capacity: 48)
            for command in commands {
                scratch.removeAll()
                LogCodec.encode(command, into: &scratch)
                writer.writeVarint(UInt64(scratch.bytes.count))
                for byte in scratch.bytes { writer.writeByte(byte) }
            }
        case .placement(let symbol, let owner):
            writer.writeByte(Kind.placement.rawValue)
            writer.writeString(symbol)
            writer.writeVarint(UInt64(owner))
        case .handOver(let symbol, let to):
            writer.writeByte(Kind.handOver.rawValue)
            writer.writeString(symbol)
            writer.writeVarint(UInt64(to))
        case .takeOver(let takeOver):
            writer.writeByte(Kind.takeOver.rawValue)
            writer.writeString(takeOver.symbol)
            writer.writeVarint(UInt64(takeOver.from))
            writer.writeVarint(takeOver.fromPosition)
            writer.writeVarint(takeOver.lastUpdateID)
            writer.writeBlock(takeOver.book)
        case .continueMove:
            writer.writeByte(Kind.continueMove.rawValue)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> ShardInput {
        var reader = BinaryReader(bytes)
        let version = try reader.readByte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let rawKind = try reader.readByte()
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownTag(rawKind) }
        let input: ShardInput
        switch kind {
        case .commands:
            let symbolCount = try readCount(&reader)
            var symbols: [String] = []
            symbols.reserveCapacity(symbolCount)
            for _ in 0..<symbolCount { symbols.append(try reader.readString(maximumLength: SymbolSpec.maximumNameLength)) }
            let commandCount = try readCount(&reader)
            var commands: [MatchingCommand] = []
            commands.reserveCapacity(commandCount)
            for _ in 0..<commandCount {
                let length = Int(try reader.readVarint())
                guard length <= bytes.count - reader.offset else { throw .truncated }
                let command = try LogCodec.decodeCommand(bytes[reader.offset..<(reader.offset + length)])
                if let symbol = command.symbolID, Int(symbol.rawValue) >= symbols.count {
                    throw .invalidValue("symbol index \(symbol.rawValue) of \(symbols.count)")
                }
                commands.append(command)
                try reader.skip(length)
            }
            input = .commands(symbols: symbols, commands: commands)
        case .placement:
            let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
            input = .placement(symbol: symbol, owner: try readShard(&reader))
        case .handOver:
            let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
            input = .handOver(symbol: symbol, to: try readShard(&reader))
        case .takeOver:
            let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
            let from = try readShard(&reader)
            let fromPosition = try reader.readVarint()
            let lastUpdateID = try reader.readVarint()
            input = .takeOver(TakeOver(
                symbol: symbol, from: from, fromPosition: fromPosition, lastUpdateID: lastUpdateID,
                book: try reader.readBlock(maximumLength: maximumBookBytes)))
        case .continueMove:
            input = .continueMove
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return input
    }

    static func readShard(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> ShardID {
        let shard = try reader.readVarint()
        guard shard <= UInt64(ShardID.max) else { throw .invalidValue("shard \(shard)") }
        return ShardID(shard)
    }

    private static func readCount(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> Int {
        let count = try reader.readVarint()
        guard count <= UInt64(maximumCommands) else { throw .invalidValue("count \(count)") }
        return Int(count)
    }
}

/// Builds a `commands` entry: commands in order, each addressed by symbol name.
public struct ShardInputBatch: Sendable {
    public private(set) var symbols: [String] = []
    public private(set) var commands: [MatchingCommand] = []
    private var indexOfSymbol: [String: SymbolID] = [:]

    public init() {}

    public var count: Int { commands.count }
    public var isEmpty: Bool { commands.isEmpty }

    /// Appends `command` for the symbol called `symbol` (ignored for `addSymbol`, which names
    /// its own).
    public mutating func append(_ command: MatchingCommand, symbol: String) {
        var command = command
        if command.symbolID != nil {
            let index = indexOfSymbol[symbol] ?? {
                let next = SymbolID(UInt32(symbols.count))
                symbols.append(symbol)
                indexOfSymbol[symbol] = next
                return next
            }()
            command.symbolID = index
        }
        commands.append(command)
    }

    public var input: ShardInput { .commands(symbols: symbols, commands: commands) }

    public mutating func removeAll() {
        symbols.removeAll(keepingCapacity: true)
        commands.removeAll(keepingCapacity: true)
        indexOfSymbol.removeAll(keepingCapacity: true)
    }
}
