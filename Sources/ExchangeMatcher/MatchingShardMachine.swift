import ExchangeCluster
import ExchangeCore
import ExchangeMatching
import ExchangeReplication

/// A matching shard as a replicated state machine: input entries are `ShardInput`s, the
/// output of each is its `ShardOutput` (one outcome per command).
///
/// Commands address symbols by name; the shard applies those whose symbol its engine holds
/// and answers the others with `CommandOutcome.misrouted`, naming the owner its placement
/// directory records (fed by `placement` entries). An entry that does not decode yields an
/// empty output, deterministically, and counts in `malformedEntries` (producers validate
/// before appending, so this means a bug or corruption); no command of it is applied.
public struct MatchingShardMachine: ReplicatedStateMachine, Sendable {
    public static let limits = MatchingEngine.Limits(maximumSymbols: 16_384, maximumRestingOrders: 1 << 20)
    /// The first word of the machine's snapshot form (2: no update id offsets).
    static let snapshotVersion: UInt64 = 3

    public private(set) var engine: MatchingEngine
    public private(set) var malformedEntries: UInt64 = 0
    /// Symbols held by other shards, by name.
    public private(set) var directory: [String: ShardID] = [:]
    /// Per symbol taken over from another shard: what to add to this log's input positions to
    /// give its market-data update ids, so they go on increasing across the move (a symbol
    /// never moved uses the positions as they are).
    public private(set) var updateIDOffsets: [String: UInt64] = [:]
    private var events: [MatchingEvent] = []
    /// Engine ids of the current entry's symbol names (nil: not held here).
    private var resolved: [SymbolID?] = []
    /// Books moving out of or into this shard, oldest first. The entry that starts one and
    /// each `continueMove` entry take the first one step further (`handOverStepOrders` or
    /// `takeOverStepOrders` orders), so other symbols wait for one step at a time, never for a
    /// whole book.
    private var moves: [Move] = []

    /// At most this many orders of a departing book per entry, and of an arriving one: each
    /// about 3-4 ms of engine work per replica on this machine (an order leaving costs about
    /// three times one arriving: its index removal misses the cache more). Smaller steps pause
    /// the other symbols less but cost a round trip each, which lengthens the moving symbol's
    /// halt (`bench/reports/2026-12-07-moves/`).
    public static let handOverStepOrders = 16_384
    public static let takeOverStepOrders = 49_152

    /// A book on its way out (`handOver`) or in (`takeOver`, its header without the book;
    /// the book is at input `bookPosition`).
    enum Move: Sendable {
        case departure(MatchingEngine.BookDeparture, symbol: String, to: ShardID)
        case arrival(MatchingEngine.BookArrival, ShardInput.TakeOver, bookPosition: LogPosition)

        var symbol: String {
            switch self {
            case .departure(_, let symbol, _): symbol
            case .arrival(_, let header, _): header.symbol
            }
        }

        var progressDigest: UInt64 {
            switch self {
            case .departure(let departure, _, _): departure.progressDigest
            case .arrival(let arrival, _, _): arrival.progressDigest
            }
        }
    }

    /// Whether no move is under way: the snapshot form holds no moving book.
    public var isSnapshotReady: Bool { moves.isEmpty }

    public static func spanName(of entry: InputEntry) -> String { "shard.apply" }

    public init() {
        engine = MatchingEngine(limits: Self.limits)
        events.reserveCapacity(1_024)
    }

    public mutating func apply(_ entry: InputEntry) -> [UInt8] {
        var output: ShardOutput.Writer?
        apply(entry, output: &output)
        return output?.bytes ?? ShardOutput.encode([])
    }

    public mutating func applyWithoutOutput(_ entry: InputEntry) {
        var output: ShardOutput.Writer? = nil
        apply(entry, output: &output, encoding: false)
    }

    /// Applies `entry`; when `encoding`, builds its output in `output` (left nil for an entry
    /// without commands).
    private mutating func apply(_ entry: InputEntry, output: inout ShardOutput.Writer?, encoding: Bool = true) {
        let input: ShardInput
        do {
            input = try ShardInput.decode(entry.payload)
        } catch {
            malformedEntries += 1
            return
        }
        switch input {
        case .placement(let symbol, let owner):
            directory[symbol] = owner
        case .handOver(let symbol, let to):
            guard let departure = engine.beginHandOver(symbol: symbol) else {
                if encoding { output = ShardOutput.Writer(count: 1) }
                output?.appendMisrouted(symbol: symbol, owner: directory[symbol])
                return
            }
            directory[symbol] = to
            moves.append(.departure(departure, symbol: symbol, to: to))
            stepFirstMove(at: entry.position, output: &output, encoding: encoding)
        case .takeOver(let takeOver):
            let arrival: MatchingEngine.BookArrival
            do {
                arrival = try engine.beginTakeOver(takeOver.book)
            } catch {
                // Back to where it came from, which had room for it. The refused book still
                // takes a symbol id here, as a tombstone: the registry counted one.
                engine.addTombstone(forRefused: takeOver.book)
                if encoding { output = ShardOutput.Writer(count: 1) }
                output?.appendHandedOver(Self.refusal(of: takeOver, book: takeOver.book, error: error))
                return
            }
            directory[takeOver.symbol] = nil
            var header = takeOver
            header.book = []
            moves.append(.arrival(arrival, header, bookPosition: entry.position))
            stepFirstMove(at: entry.position, output: &output, encoding: encoding)
        case .continueMove:
            stepFirstMove(at: entry.position, output: &output, encoding: encoding)
        case .commands(let symbols, let commands):
            resolved.removeAll(keepingCapacity: true)
            for name in symbols { resolved.append(engine.symbolID(named: name)) }
            if encoding { output = ShardOutput.Writer(count: commands.count) }
            for (position, var command) in commands.enumerated() {
                // The loads of the command a few places ahead overlap this one's work (see
                // `MatchingEngine.apply(batch:into:)`); a symbol added in this entry is not
                // resolved yet and simply not prefetched.
                if position + MatchingEngine.prefetchDistance < commands.count {
                    var ahead = commands[position + MatchingEngine.prefetchDistance]
                    if let index = ahead.symbolID.map({ Int($0.rawValue) }), let local = resolved[index] {
                        ahead.symbolID = local
                        engine.prefetch(for: ahead)
                    }
                }
                if let index = command.symbolID.map({ Int($0.rawValue) }) {
                    // A symbol added earlier in this entry resolves on its first use.
                    if resolved[index] == nil { resolved[index] = engine.symbolID(named: symbols[index]) }
                    guard let local = resolved[index] else {
                        output?.appendMisrouted(symbol: symbols[index], owner: directory[symbols[index]])
                        continue
                    }
                    command.symbolID = local
                }
                events.removeAll(keepingCapacity: true)
                engine.apply(command, into: &events)
                output?.appendEvents(events)
            }
        }
    }

    /// Takes the first move one step further. The entry's outcomes: the move's end when it
    /// ends (`handedOver`, `tookOver`, or a refused book's `handedOver` back), then
    /// `moveContinues` while moves remain, so the forwarder appends the next `continueMove`.
    private mutating func stepFirstMove(at position: LogPosition, output: inout ShardOutput.Writer?, encoding: Bool) {
        var ended: CommandOutcome?
        if !moves.isEmpty {
            // Out of the array while it changes, so the form it grows is not copied.
            let first = moves.removeFirst()
            switch consume first {
            case .departure(var departure, let symbol, let to):
                engine.continueHandOver(&departure, budget: Self.handOverStepOrders)
                if let book = departure.book {
                    let lastUpdateID = position + (updateIDOffsets.removeValue(forKey: symbol) ?? 0)
                    ended = .handedOver(CommandOutcome.HandedOver(
                        symbol: symbol, to: to, tombstone: book.symbolID, restingOrders: book.restingOrders, lastUpdateID: lastUpdateID,
                        book: book.bytes))
                } else {
                    moves.insert(.departure(departure, symbol: symbol, to: to), at: 0)
                }
            case .arrival(var arrival, let header, let bookPosition):
                do {
                    try engine.continueTakeOver(&arrival, budget: Self.takeOverStepOrders)
                    if arrival.isFinished {
                        let offset = header.lastUpdateID >= position ? header.lastUpdateID + 1 - position : 0
                        updateIDOffsets[header.symbol] = offset == 0 ? nil : offset
                        ended = .tookOver(CommandOutcome.TookOver(
                            symbol: header.symbol, symbolID: arrival.symbolID, from: header.from, fromPosition: header.fromPosition,
                            updateIDOffset: offset, bookPosition: bookPosition == position ? nil : bookPosition))
                    } else {
                        moves.insert(.arrival(arrival, header, bookPosition: bookPosition), at: 0)
                    }
                } catch {
                    engine.abandonTakeOver(arrival)
                    ended = .handedOver(Self.refusal(of: header, book: arrival.book, error: error))
                }
            }
        }
        guard encoding else { return }
        let continuing = moves.first?.symbol
        output = ShardOutput.Writer(count: (ended == nil ? 0 : 1) + (continuing == nil ? 0 : 1))
        if let ended { output?.append(ended) }
        if let continuing { output?.appendMoveContinues(symbol: continuing) }
    }

    /// A refused book going back to the shard it came from.
    private static func refusal(of takeOver: ShardInput.TakeOver, book: [UInt8], error: any Error) -> CommandOutcome.HandedOver {
        CommandOutcome.HandedOver(
            symbol: takeOver.symbol, to: takeOver.from, tombstone: nil, restingOrders: 0,
            lastUpdateID: takeOver.lastUpdateID, book: book, refusal: "\(error)")
    }

    /// Throws while a move is under way (`isSnapshotReady`): its book is held outside the form.
    public func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws {
        guard isSnapshotReady else { throw SnapshotError.invalidContent("a symbol move is under way") }
        try sink.writeUInt64(Self.snapshotVersion)
        try sink.writeUInt64(malformedEntries)
        var placements = BinaryWriter(capacity: 16 * directory.count + 8)
        placements.writeVarint(UInt64(directory.count))
        for (symbol, owner) in directory.sorted(by: { $0.key < $1.key }) {
            placements.writeString(symbol)
            placements.writeVarint(UInt64(owner))
        }
        placements.writeVarint(UInt64(updateIDOffsets.count))
        for (symbol, offset) in updateIDOffsets.sorted(by: { $0.key < $1.key }) {
            placements.writeString(symbol)
            placements.writeVarint(offset)
        }
        try sink.writeUInt64(UInt64(placements.bytes.count))
        try sink.writeBytes(placements.bytes)
        try engine.writeSnapshot(to: &sink)
    }

    public static func restore<Source: SnapshotByteSource>(from source: inout Source) throws -> MatchingShardMachine {
        let version = try source.readUInt64()
        guard (2...snapshotVersion).contains(version) else { throw SnapshotError.unsupportedVersion(version) }
        var machine = MatchingShardMachine()
        machine.malformedEntries = try source.readUInt64()
        let length = try source.readUInt64()
        guard length <= 64 << 20 else { throw SnapshotError.exceedsLimits("placement directory of \(length) bytes") }
        var reader = BinaryReader(try source.readBytes(count: Int(length)))
        do {
            let count = try reader.readVarint()
            for _ in 0..<count {
                let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
                let owner = try reader.readVarint()
                guard owner <= UInt64(ShardID.max) else { throw SnapshotError.invalidContent("shard \(owner)") }
                machine.directory[symbol] = ShardID(owner)
            }
            let offsets = version >= 3 ? try reader.readVarint() : 0
            for _ in 0..<offsets {
                let symbol = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
                machine.updateIDOffsets[symbol] = try reader.readVarint()
            }
            guard reader.isAtEnd else { throw SnapshotError.invalidContent("bytes after the placement directory") }
        } catch let error as BinaryDecodingError {
            throw SnapshotError.invalidContent("placement directory: \(error)")
        }
        machine.engine = try MatchingEngine.restore(limits: limits, from: &source)
        return machine
    }

    public var stateDigest: UInt64 {
        var checksum = Checksum64()
        checksum.combine(engine.stateDigest)
        checksum.combine(malformedEntries)
        for (symbol, owner) in directory.sorted(by: { $0.key < $1.key }) {
            for byte in symbol.utf8 { checksum.combine(UInt64(byte)) }
            checksum.combine(UInt64(owner) | 1 << 40)
        }
        for (symbol, offset) in updateIDOffsets.sorted(by: { $0.key < $1.key }) {
            for byte in symbol.utf8 { checksum.combine(UInt64(byte)) }
            checksum.combine(offset | 1 << 62)
        }
        for move in moves { checksum.combine(move.progressDigest) }
        return checksum.value
    }
}
