import ExchangeOrderFlow
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `OutputFile`: regular files are replaced whole; devices and pipes are written in place,
/// never renamed over (an earlier `exchange replay --output /dev/null` replaced the machine's
/// null device with a regular file).
@Suite("Output files")
struct OutputFileTests {
    private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("OutputFileTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    private func fileType(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : nil
    }

    @Test("Writing to /dev/null leaves it the null character device")
    func devNull() throws {
        var before = stat()
        try #require(stat("/dev/null", &before) == 0 && before.st_mode & S_IFMT == S_IFCHR)
        try OutputFile.write(Array("trade,1\n".utf8), to: "/dev/null")
        var after = stat()
        let intact = stat("/dev/null", &after) == 0 && after.st_mode & S_IFMT == S_IFCHR && after.st_rdev == before.st_rdev
        if !intact {
            // Repair the machine before failing: the null device is major 1, minor 3.
            unlink("/dev/null")
            mknod("/dev/null", S_IFCHR | 0o666, dev_t((1 << 8) | 3))  // makedev(1, 3) in the Linux encoding of small numbers
        }
        #expect(intact, "/dev/null is no longer the null device")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/dev").filter { $0.hasPrefix(".null.tmp") }.isEmpty)
    }

    @Test("A FIFO is written through, and stays a FIFO")
    func fifo() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/pipe"
            try #require(mkfifo(path, 0o600) == 0)
            // A reader that is open before the write, so the writer's open does not block.
            let reader = open(path, O_RDONLY | O_NONBLOCK)
            try #require(reader >= 0)
            defer { close(reader) }
            let text = "order,1,filled,1.5\n"
            try OutputFile.write(Array(text.utf8), to: path)
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = read(reader, &buffer, buffer.count)
            #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == text)
            #expect(fileType(path) == S_IFIFO)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["pipe"])
        }
    }

    @Test("`exchange replay --output` to a FIFO streams the output through it")
    func replayToFIFO() throws {
        try withTemporaryDirectory { directory in
            let flowPath = directory + "/one.flow"
            try "symbol,BTCUSDT,0.01,0.001\nplace,1,7,BTCUSDT,sell,limit,gtc,100.00,1.5\n".write(toFile: flowPath, atomically: false, encoding: .utf8)
            let path = directory + "/pipe"
            try #require(mkfifo(path, 0o600) == 0)
            let reader = open(path, O_RDONLY | O_NONBLOCK)
            try #require(reader >= 0)
            defer { close(reader) }
            _ = try ReplayTool.replay(flowPath: flowPath, outputPath: path)
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = read(reader, &buffer, buffer.count)
            #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == "order,1,new,0\nbook,BTCUSDT,sell,1,100,1.5\n")
            #expect(fileType(path) == S_IFIFO)
        }
    }

    @Test("A regular file is replaced whole; a symbolic link keeps pointing at the file it names")
    func regularAndSymlink() throws {
        try withTemporaryDirectory { directory in
            let file = directory + "/out.txt"
            try "old contents, longer than the new\n".write(toFile: file, atomically: false, encoding: .utf8)
            try OutputFile.write(Array("new\n".utf8), to: file)
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "new\n")

            let link = directory + "/link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "out.txt")
            try OutputFile.write(Array("through the link\n".utf8), to: link)
            #expect(fileType(link) == S_IFLNK)
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "through the link\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["link", "out.txt"])
        }
    }

    @Test("A directory is refused with a clear reason")
    func directory() throws {
        try withTemporaryDirectory { directory in
            let error = #expect(throws: OutputFileError.self) { try OutputFile.write(Array("x".utf8), to: directory) }
            #expect(error?.description == "\(directory): cannot write: is a directory")
        }
    }
}
