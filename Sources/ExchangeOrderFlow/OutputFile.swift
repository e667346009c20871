import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a command's `--output`: whole or not at all when the path is (or will be) a regular
/// file, straight through when it is something else.
///
/// Invariants: a path that names a device, a FIFO or a socket (`/dev/null`, `/dev/stdout`, a
/// pipe) is opened and written in place, never renamed over: renaming a temporary file over
/// `/dev/null` would replace the machine's null device with a regular file. A symbolic link is
/// followed, so the file it names is replaced and the link stays. A regular file (or a path
/// that does not exist yet) is written to a temporary sibling, then renamed over it, so a
/// reader never sees half of it and a failure leaves the old contents and no temporary file.
public enum OutputFile {
    /// Writes `bytes` to `path`; errors carry the reason (`strerror`).
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(OutputFileError) {
        let target = resolvedTarget(of: path)
        var status = stat()
        if stat(target, &status) == 0, status.st_mode & S_IFMT != S_IFREG {
            guard status.st_mode & S_IFMT != S_IFDIR else { throw OutputFileError(path: path, reason: "is a directory") }
            try writeInPlace(bytes, to: target, reportedAs: path)
        } else {
            try writeByRename(bytes, to: target, reportedAs: path)
        }
    }

    /// The path a write lands on: a symbolic link's final target (relative links resolved
    /// against the link's directory), else `path` itself.
    static func resolvedTarget(of path: String) -> String {
        var current = path
        for _ in 0..<40 {  // SYMLOOP_MAX on Linux
            guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { return current }
            current = destination.hasPrefix("/")
                ? destination : URL(fileURLWithPath: current).deletingLastPathComponent().appendingPathComponent(destination).path
        }
        return current
    }

    private static func writeInPlace(_ bytes: some Collection<UInt8>, to target: String, reportedAs path: String) throws(OutputFileError) {
        let descriptor = open(target, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw OutputFileError(path: path, errno: errno) }
        defer { close(descriptor) }
        try writeAll(Array(bytes), to: descriptor, reportedAs: path)
    }

    private static func writeByRename(_ bytes: some Collection<UInt8>, to target: String, reportedAs path: String) throws(OutputFileError) {
        let url = URL(fileURLWithPath: target)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw OutputFileError(path: path, errno: errno) }
        do throws(OutputFileError) {
            try writeAll(Array(bytes), to: descriptor, reportedAs: path)
            close(descriptor)
            guard rename(temporary, target) == 0 else { throw OutputFileError(path: path, errno: errno) }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, reportedAs path: String) throws(OutputFileError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw OutputFileError(path: path, errno: errno)
            }
            written += result
        }
    }
}

/// Why an output could not be written: `PATH: cannot write: REASON`.
public struct OutputFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    public var description: String { "\(path): cannot write: \(reason)" }
}
