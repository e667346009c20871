import ExchangeCore

/// A sink that keeps the bytes in memory: for tests and small states.
public struct InMemorySnapshotSink: SnapshotByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
}

/// A source over bytes in memory, returning at most `chunkBytes` per read so tests exercise
/// chunk boundaries.
public struct InMemorySnapshotSource: SnapshotByteSource {
    public let bytes: [UInt8]
    public let chunkBytes: Int
    private var offset = 0

    public init(bytes: [UInt8], chunkBytes: Int = 1 << 16) {
        precondition(chunkBytes > 0, "chunkBytes must be positive")
        self.bytes = bytes
        self.chunkBytes = chunkBytes
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, chunkBytes, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)]))
        }
        offset += count
        return count
    }
}
