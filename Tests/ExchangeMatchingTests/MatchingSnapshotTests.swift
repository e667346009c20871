import ExchangeCore
import ExchangeMatching
import ExchangeTesting
import Testing

@Suite struct MatchingSnapshotTests {
    /// An engine after `count` random commands, and the commands that follow.
    static func engine(seed: UInt64, count: Int) -> (MatchingEngine, RandomCommandGenerator) {
        var generator = RandomCommandGenerator(seed: seed, symbolCount: 4)
        var engine = MatchingEngine(limits: .init(maximumSymbols: 8, maximumRestingOrders: 4_096))
        var events: [MatchingEvent] = []
        for command in generator.symbolCommands { engine.apply(command, into: &events) }
        for _ in 0..<count { engine.apply(generator.next(), into: &events) }
        return (engine, generator)
    }

    static func snapshot(of engine: MatchingEngine) throws -> [UInt8] {
        var sink = InMemorySnapshotSink()
        try engine.writeSnapshot(to: &sink)
        return sink.bytes
    }

    @Test("restore gives an identical digest, whatever the read chunk size", arguments: [1, 7, 4_096, 1 << 16])
    func restoreDigest(chunkBytes: Int) throws {
        let (engine, _) = Self.engine(seed: 11, count: 2_000)
        #expect(engine.restingOrderCount > 20)
        var source = InMemorySnapshotSource(bytes: try Self.snapshot(of: engine), chunkBytes: chunkBytes)
        let restored = try MatchingEngine.restore(limits: engine.limits, from: &source)
        try restored.checkInvariants()
        #expect(restored.stateDigest == engine.stateDigest)
        #expect(restored.restingOrderCount == engine.restingOrderCount)
    }

    @Test("a flow continued after a restore emits what an uninterrupted one emits", arguments: [UInt64(3), 4, 5])
    func continueAfterRestore(seed: UInt64) throws {
        var (original, generator) = Self.engine(seed: seed, count: 1_500)
        var source = InMemorySnapshotSource(bytes: try Self.snapshot(of: original))
        var restored = try MatchingEngine.restore(limits: original.limits, from: &source)
        var originalEvents: [MatchingEvent] = []
        var restoredEvents: [MatchingEvent] = []
        for _ in 0..<1_500 {
            let command = generator.next()
            original.apply(command, into: &originalEvents)
            restored.apply(command, into: &restoredEvents)
        }
        #expect(originalEvents == restoredEvents, "seed \(seed)")
        #expect(original.stateDigest == restored.stateDigest, "seed \(seed)")
    }

    @Test("an empty engine round-trips")
    func empty() throws {
        let engine = MatchingEngine()
        var source = InMemorySnapshotSource(bytes: try Self.snapshot(of: engine))
        #expect(try MatchingEngine.restore(limits: engine.limits, from: &source).stateDigest == engine.stateDigest)
    }

    @Test("every flipped byte and every truncation is refused")
    func corruption() throws {
        let (engine, _) = Self.engine(seed: 21, count: 300)
        let bytes = try Self.snapshot(of: engine)
        for position in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            var corrupted = bytes
            corrupted[position] ^= 0x20
            var source = InMemorySnapshotSource(bytes: corrupted)
            #expect(throws: SnapshotError.self, "flipped byte \(position)") {
                try MatchingEngine.restore(limits: engine.limits, from: &source)
            }
        }
        for length in [0, 3, bytes.count / 2, bytes.count - 1] {
            var source = InMemorySnapshotSource(bytes: Array(bytes.prefix(length)))
            #expect(throws: SnapshotError.self, "truncated to \(length)") {
                try MatchingEngine.restore(limits: engine.limits, from: &source)
            }
        }
        var extended = InMemorySnapshotSource(bytes: bytes + [0])
        #expect(throws: SnapshotError.invalidContent("bytes after the trailer")) {
            try MatchingEngine.restore(limits: engine.limits, from: &extended)
        }
    }

    @Test("a snapshot larger than the restoring engine's limits is refused")
    func limits() throws {
        let (engine, _) = Self.engine(seed: 8, count: 1_000)
        var source = InMemorySnapshotSource(bytes: try Self.snapshot(of: engine))
        #expect(throws: SnapshotError.self) {
            try MatchingEngine.restore(limits: .init(maximumSymbols: 8, maximumRestingOrders: 4), from: &source)
        }
    }
}
