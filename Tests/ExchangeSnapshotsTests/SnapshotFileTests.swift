import ExchangeCore
import ExchangeMatching
import ExchangeSnapshots
import ExchangeTesting
import Foundation
import Testing

/// A fresh directory per test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: url.path).sorted()) ?? [] }
    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite struct SnapshotFileTests {
    static func engine(seed: UInt64) -> MatchingEngine {
        var generator = RandomCommandGenerator(seed: seed, symbolCount: 5)
        var engine = MatchingEngine(limits: .init(maximumSymbols: 8, maximumRestingOrders: 8_192))
        var events: [MatchingEvent] = []
        for command in generator.symbolCommands { engine.apply(command, into: &events) }
        for _ in 0..<5_000 { engine.apply(generator.next(), into: &events) }
        return engine
    }

    @Test("write then read through zstd gives the same digest; only the final file remains")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let engine = Self.engine(seed: 1)
        let path = directory.path("matching-000042.snapshot.zst")
        let compressed = try SnapshotFile.write(to: path) { try engine.writeSnapshot(to: &$0) }
        #expect(compressed > 0)
        #expect(directory.contents == ["matching-000042.snapshot.zst"])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? Int) == compressed)
        let restored = try SnapshotFile.read(from: path) { try MatchingEngine.restore(limits: engine.limits, from: &$0) }
        #expect(restored.stateDigest == engine.stateDigest)
    }

    @Test("a new snapshot replaces the old one atomically")
    func replaces() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("s.zst")
        let first = Self.engine(seed: 2)
        let second = Self.engine(seed: 3)
        try SnapshotFile.write(to: path) { try first.writeSnapshot(to: &$0) }
        try SnapshotFile.write(to: path) { try second.writeSnapshot(to: &$0) }
        #expect(directory.contents == ["s.zst"])
        let restored = try SnapshotFile.read(from: path) { try MatchingEngine.restore(limits: second.limits, from: &$0) }
        #expect(restored.stateDigest == second.stateDigest)
    }

    @Test("a failing producer leaves neither a file nor a temporary behind, and keeps the old file")
    func failedWrite() throws {
        struct Boom: Error {}
        let directory = try TemporaryDirectory()
        let path = directory.path("s.zst")
        let engine = Self.engine(seed: 4)
        try SnapshotFile.write(to: path) { try engine.writeSnapshot(to: &$0) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: Boom.self) {
            try SnapshotFile.write(to: path) { sink in
                try sink.write(UnsafeRawBufferPointer(start: nil, count: 0))
                throw Boom()
            }
        }
        #expect(directory.contents == ["s.zst"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("corrupted, truncated or extended files are refused")
    func corruption() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("s.zst")
        let engine = Self.engine(seed: 5)
        try SnapshotFile.write(to: path) { try engine.writeSnapshot(to: &$0) }
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func refused(_ bytes: Data, _ comment: Comment) throws {
            let bad = directory.path("bad.zst")
            try bytes.write(to: URL(fileURLWithPath: bad))
            #expect(throws: (any Error).self, comment) {
                try SnapshotFile.read(from: bad) { try MatchingEngine.restore(limits: engine.limits, from: &$0) }
            }
        }
        // From the frame's magic number on, every byte but the window descriptor (byte 5): one of
        // its bits may change only how large a window the decoder reserves, not the content the
        // checksum covers.
        for position in stride(from: 0, to: good.count, by: max(1, good.count / 40)) where position != 5 {
            var flipped = good
            flipped[position] ^= 0x01
            try refused(flipped, "flipped byte \(position)")
        }
        try refused(good.prefix(good.count / 2), "truncated")
        try refused(good.prefix(good.count - 1), "last byte missing")
        try refused(good + Data([0x28, 0xB5]), "trailing bytes")
        try refused(Data(), "empty file")
        #expect(throws: SnapshotFileError.self) {
            try SnapshotFile.read(from: directory.path("missing.zst")) { try MatchingEngine.restore(limits: engine.limits, from: &$0) }
        }
    }

    @Test("writing into a missing directory fails with the path in the error")
    func missingDirectory() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("no/such/dir/s.zst")
        let engine = MatchingEngine()
        #expect {
            try SnapshotFile.write(to: path) { try engine.writeSnapshot(to: &$0) }
        } throws: { error in
            "\(error)".contains("no/such/dir")
        }
    }
}
