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
            if encoding { output = ShardOutput.Writer(count: 1) }
            guard let book = engine.handOver(symbol: symbol) else {
                output?.appendMisrouted(symbol: symbol, owner: directory[symbol])
                return
            }
            let lastUpdateID = entry.position + (updateIDOffsets.removeValue(forKey: symbol) ?? 0)
            directory[symbol] = to
            output?.appendHandedOver(CommandOutcome.HandedOver(
                symbol: symbol, to: to, tombstone: book.symbolID, restingOrders: book.restingOrders, lastUpdateID: lastUpdateID,
                book: book.bytes))
        case .takeOver(let takeOver):
            if encoding { output = ShardOutput.Writer(count: 1) }
            do {
                let symbolID = try engine.takeOver(takeOver.book)
                let offset = takeOver.lastUpdateID >= entry.position ? takeOver.lastUpdateID + 1 - entry.position : 0
                updateIDOffsets[takeOver.symbol] = offset == 0 ? nil : offset
                directory[takeOver.symbol] = nil
                output?.appendTookOver(CommandOutcome.TookOver(
                    symbol: takeOver.symbol, symbolID: symbolID, from: takeOver.from, fromPosition: takeOver.fromPosition,
                    updateIDOffset: offset))
            } catch {
                // Back to where it came from, which had room for it. The refused book still
                // takes a symbol id here, as a tombstone: the registry counted one.
                engine.addTombstone(forRefused: takeOver.book)
                output?.appendHandedOver(CommandOutcome.HandedOver(
                    symbol: takeOver.symbol, to: takeOver.from, tombstone: nil, restingOrders: 0,
                    lastUpdateID: takeOver.lastUpdateID, book: takeOver.book, refusal: "\(error)"))
            }
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

    public func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws {
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
        return checksum.value
    }
}
