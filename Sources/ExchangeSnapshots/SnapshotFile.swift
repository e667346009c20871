import CZstd
import ExchangeCore
import Foundation

/// Why a snapshot file could not be written or read.
public enum SnapshotFileError: Error, CustomStringConvertible {
    case system(operation: String, path: String, errno: Int32)
    case compression(String)
    case decompression(path: String, reason: String)

    public var description: String {
        switch self {
        case .system(let operation, let path, let code):
            "\(operation) \(path): \(String(cString: strerror(code)))"
        case .compression(let reason): "zstd compression failed: \(reason)"
        case .decompression(let path, let reason): "\(path): zstd decompression failed: \(reason)"
        }
    }
}

/// zstd-compressed snapshot files, written crash-safely.
///
/// A file is one zstd frame with its content checksum on (so a flipped bit fails the read),
/// holding whatever binary form the state machine streams (which carries its own magic,
/// version and checksum). Writing goes to `.NAME.tmp` in the same directory, is fsynced,
/// renamed over `NAME`, and the directory is fsynced: a crash leaves either the old file or
/// the new one, never a torn one. Memory use is O(buffer) whatever the state's size.
public enum SnapshotFile {
    /// zstd level: 1 is the fastest and already shrinks books several times.
    public static let defaultCompressionLevel: Int32 = 1

    /// Writes a snapshot to `path`; `produce` streams the state into the sink it is given.
    /// Returns the compressed size in bytes. Each writer uses its own temporary name (pid and
    /// a counter), so concurrent writers never clobber each other's temporary file.
    @discardableResult
    public static func write(
        to path: String, compressionLevel: Int32 = defaultCompressionLevel,
        _ produce: (inout ZstdFileSink) throws -> Void
    ) throws -> Int {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let suffix = "\(getpid())-\(temporaryCounter.next())"
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(suffix)").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SnapshotFileError.system(operation: "open", path: temporary, errno: errno) }
        var compressedBytes = 0
        do {
            var sink = try ZstdFileSink(descriptor: descriptor, path: temporary, level: compressionLevel)
            try produce(&sink)
            try sink.finish()
            compressedBytes = sink.compressedBytes
            guard fsync(descriptor) == 0 else { throw SnapshotFileError.system(operation: "fsync", path: temporary, errno: errno) }
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SnapshotFileError.system(operation: "rename", path: path, errno: code)
        }
        // The rename is durable only once the directory entry is on disk.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw SnapshotFileError.system(operation: "open", path: directory, errno: errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else {
            throw SnapshotFileError.system(operation: "fsync", path: directory, errno: errno)
        }
        return compressedBytes
    }

    /// Reads a snapshot file held in memory (a published snapshot's bytes) through a private
    /// temporary file, removed afterwards; `consume` as in `read(from:_:)`.
    public static func read<Result>(contents: [UInt8], _ consume: (inout ZstdFileSource) throws -> Result) throws -> Result {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString).zst").path
        try Data(contents).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try read(from: path, consume)
    }

    /// Distinguishes temporary files of writers in one process.
    private static let temporaryCounter = TemporaryCounter()

    /// Reads the snapshot at `path`; `consume` pulls the decompressed bytes from the source.
    public static func read<Result>(from path: String, _ consume: (inout ZstdFileSource) throws -> Result) throws -> Result {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SnapshotFileError.system(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        var source = try ZstdFileSource(descriptor: descriptor, path: path)
        let result = try consume(&source)
        try source.expectEnd()
        return result
    }
}

/// Owns a zstd compression context; frees it when the last sink holding it goes away.
private final class CompressionContext {
    let pointer: OpaquePointer
    init?() {
        guard let pointer = ZSTD_createCCtx() else { return nil }
        self.pointer = pointer
    }
    deinit { ZSTD_freeCCtx(pointer) }
}

/// Owns a zstd decompression context.
private final class DecompressionContext {
    let pointer: OpaquePointer
    init?() {
        guard let pointer = ZSTD_createDCtx() else { return nil }
        self.pointer = pointer
    }
    deinit { ZSTD_freeDCtx(pointer) }
}

/// Compresses what it is given into an open file, through fixed buffers.
public struct ZstdFileSink: SnapshotByteSink {
    private let context: CompressionContext
    private let descriptor: Int32
    private let path: String
    private var output: [UInt8]
    public private(set) var compressedBytes = 0
    public private(set) var uncompressedBytes = 0

    init(descriptor: Int32, path: String, level: Int32) throws {
        guard let context = CompressionContext() else { throw SnapshotFileError.compression("cannot create a context") }
        self.context = context
        self.descriptor = descriptor
        self.path = path
        output = Array(repeating: 0, count: ZSTD_CStreamOutSize())
        try Self.check(ZSTD_CCtx_setParameter(context.pointer, ZSTD_c_compressionLevel, level))
        try Self.check(ZSTD_CCtx_setParameter(context.pointer, ZSTD_c_checksumFlag, 1))
    }

    private static func check(_ code: Int) throws {
        if ZSTD_isError(code) != 0 { throw SnapshotFileError.compression(String(cString: ZSTD_getErrorName(code))) }
    }

    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        uncompressedBytes += bytes.count
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try compress(&input, directive: ZSTD_e_continue)
        }
    }

    /// Ends the frame, flushing everything.
    mutating func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try compress(&input, directive: ZSTD_e_end) != 0 {}
    }

    /// One compression step; writes what it produced. Returns zstd's "bytes left to flush".
    @discardableResult
    private mutating func compress(_ input: inout ZSTD_inBuffer, directive: ZSTD_EndDirective) throws -> Int {
        let capacity = output.count
        let stream = context.pointer
        let (remaining, produced) = try output.withUnsafeMutableBytes { buffer in
            var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: capacity, pos: 0)
            let remaining = ZSTD_compressStream2(stream, &out, &input, directive)
            try Self.check(remaining)
            return (remaining, out.pos)
        }
        try writeAll(produced)
        return remaining
    }

    private mutating func writeAll(_ count: Int) throws {
        var written = 0
        while written < count {
            let result = output.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + written, count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw SnapshotFileError.system(operation: "write", path: path, errno: errno)
            }
            written += result
        }
        compressedBytes += count
    }
}

/// Decompresses an open file through fixed buffers; verifies the frame checksum at the end.
public struct ZstdFileSource: SnapshotByteSource {
    private let context: DecompressionContext
    private let descriptor: Int32
    private let path: String
    private var input: [UInt8]
    private var inputFilled = 0
    private var inputPosition = 0
    private var frameComplete = false
    private var reachedEndOfFile = false
    /// Whether the last decompression call filled the whole destination.
    private var decoderMayHoldOutput = false

    init(descriptor: Int32, path: String) throws {
        guard let context = DecompressionContext() else {
            throw SnapshotFileError.decompression(path: path, reason: "cannot create a context")
        }
        self.context = context
        // Snapshots are written with small windows; refuse frames asking for more than 16 MiB.
        let code = ZSTD_DCtx_setParameter(context.pointer, ZSTD_d_windowLogMax, 24)
        if ZSTD_isError(code) != 0 {
            throw SnapshotFileError.decompression(path: path, reason: String(cString: ZSTD_getErrorName(code)))
        }
        self.descriptor = descriptor
        self.path = path
        input = Array(repeating: 0, count: ZSTD_DStreamInSize())
    }

    private mutating func refillInput() throws {
        let capacity = input.count
        var count: Int
        repeat {
            count = input.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, capacity) }
        } while count < 0 && errno == EINTR
        if count < 0 { throw SnapshotFileError.system(operation: "read", path: path, errno: errno) }
        inputFilled = count
        inputPosition = 0
        if count == 0 { reachedEndOfFile = true }
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !frameComplete {
            // zstd may still hold output when the last call filled the destination; only an
            // exhausted input with room left over needs more file.
            if inputPosition == inputFilled, !decoderMayHoldOutput {
                try refillInput()
                if reachedEndOfFile {
                    throw SnapshotFileError.decompression(path: path, reason: "file ends inside the frame")
                }
            }
            let stream = context.pointer
            let filled = inputFilled
            let position = inputPosition
            let (code, consumed, produced) = input.withUnsafeBytes { inputBytes in
                var source = ZSTD_inBuffer(src: inputBytes.baseAddress, size: filled, pos: position)
                var destination = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let code = ZSTD_decompressStream(stream, &destination, &source)
                return (code, source.pos, destination.pos)
            }
            if ZSTD_isError(code) != 0 {
                throw SnapshotFileError.decompression(path: path, reason: String(cString: ZSTD_getErrorName(code)))
            }
            inputPosition = consumed
            decoderMayHoldOutput = produced == buffer.count
            if code == 0 { frameComplete = true }
            if produced > 0 { return produced }
        }
        return 0
    }

    /// Throws unless the frame ended and nothing follows it in the file.
    mutating func expectEnd() throws {
        var scratch = [UInt8](repeating: 0, count: 1)
        let more = try scratch.withUnsafeMutableBytes { try read(into: $0) }
        guard more == 0, frameComplete else {
            throw SnapshotFileError.decompression(path: path, reason: "data after the end of the snapshot")
        }
        if inputPosition == inputFilled { try refillInput() }
        guard inputPosition == inputFilled else {
            throw SnapshotFileError.decompression(path: path, reason: "bytes after the zstd frame")
        }
    }
}

/// A process-wide counter for unique temporary names.
private final class TemporaryCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
