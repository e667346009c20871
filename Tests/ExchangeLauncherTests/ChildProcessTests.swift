import ExchangeLauncher
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real processes (/bin/sh): exit codes, signals, process groups, logs.
@Suite("Child processes")
struct ChildProcessTests {
    private func temporaryLog() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path
    }

    @Test("The exit code is reported once reaped, and the output lands in the log")
    func exitCode() async throws {
        let log = temporaryLog()
        defer { unlink(log) }
        let process = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "echo hello; echo oops >&2; exit 3"], environment: [], logPath: log)
        #expect(await process.waitForExit(timeout: .seconds(10)))
        #expect(process.exitStatus == 3)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "hello\noops\n")
    }

    @Test("It runs in a process group of its own, with SIGTERM at its default even when the parent ignores it")
    func groupAndSignals() async throws {
        let log = temporaryLog()
        defer { unlink(log) }
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let process = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], environment: [], logPath: log)
        try await Task.sleep(for: .milliseconds(100))
        #expect(getpgid(process.pid) == process.pid)
        await process.stop(grace: .seconds(5))
        #expect(process.exitStatus == 128 + SIGTERM)
    }

    @Test("One that ignores SIGTERM is killed after the grace period, with what it started")
    func stubborn() async throws {
        let log = temporaryLog()
        defer { unlink(log) }
        let process = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "trap '' TERM; sleep 30 & echo $!; wait"], environment: [], logPath: log)
        var started: Int32?
        for _ in 0..<100 where started == nil {
            try await Task.sleep(for: .milliseconds(20))
            started = (try? String(contentsOfFile: log, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let sleeper = try #require(started)
        await process.stop(grace: .milliseconds(300))
        #expect(process.exitStatus == 128 + SIGKILL)
        try await Task.sleep(for: .milliseconds(100))
        // Gone, or a zombie waiting for whoever inherited it: either way no longer running.
        let state = (try? String(contentsOfFile: "/proc/\(sleeper)/stat", encoding: .utf8))?.split(separator: " ")[2]
        #expect(state == nil || state == "Z", "the `sleep` it started outlived it (state \(state ?? "-"))")
        process.send(SIGTERM)  // reaped: a no-op, never a signal to a reused pid
    }

    @Test("A missing executable is a clear error")
    func missing() throws {
        let error = #expect(throws: ChildProcessError.self) {
            try ChildProcess(executable: "no-such-program-here", arguments: [], environment: ["PATH=/usr/bin:/bin"], logPath: "/dev/null")
        }
        #expect(error?.description == "no-such-program-here: cannot start: No such file or directory")
    }
}
