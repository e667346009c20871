/// Receives a state machine's snapshot bytes in order, in chunks (64 KiB at most from the
/// engines here). Implementations compress, checksum or store them; the state machine
/// never knows which.
public protocol SnapshotByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Supplies snapshot bytes in order; `read` fills part or all of `buffer` and returns how
/// many bytes it wrote, 0 only at the end of the stream.
public protocol SnapshotByteSource {
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Why a snapshot could not be restored.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt64)
    case truncated
    case checksumMismatch
    case exceedsLimits(String)
    case invalidContent(String)

    public var description: String {
        switch self {
        case .badMagic: "not a matching snapshot"
        case .unsupportedVersion(let version): "unsupported snapshot version \(version)"
        case .truncated: "snapshot truncated"
        case .checksumMismatch: "snapshot checksum mismatch"
        case .exceedsLimits(let what): "snapshot exceeds the engine's limits: \(what)"
        case .invalidContent(let what): "invalid snapshot content: \(what)"
        }
    }
}


extension SnapshotByteSink {
    /// Writes `value` as 8 bytes little-endian.
    public mutating func writeUInt64(_ value: UInt64) throws {
        var littleEndian = value.littleEndian
        try withUnsafeBytes(of: &littleEndian) { try write($0) }
    }

    /// Writes `bytes` as they are (the reader must know the count).
    public mutating func writeBytes(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

extension SnapshotByteSource {
    /// Reads exactly 8 bytes as a little-endian `UInt64`; `SnapshotError.truncated` at the end.
    public mutating func readUInt64() throws -> UInt64 {
        try readBytes(count: 8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// Reads exactly `count` bytes; `SnapshotError.truncated` at the end.
    public mutating func readBytes(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let read = try bytes.withUnsafeMutableBytes { try self.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            guard read > 0 else { throw SnapshotError.truncated }
            filled += read
        }
        return bytes
    }
}
