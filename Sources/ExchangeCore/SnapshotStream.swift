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
