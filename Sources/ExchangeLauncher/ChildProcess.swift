import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A process `exchange up` started and owns: its own process group (a terminal's Ctrl-C
/// reaches `up` alone, which then stops its children in order), default signal dispositions,
/// standard output and error appended to a log file, standard input from /dev/null.
///
/// Invariant: `exitStatus` is set once the process has been reaped; after that its pid is
/// never signalled again (the number may belong to another process by then).
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let reaped = Mutex<Int32?>(nil)

    /// Set by `poll()` once reaped: the exit code, or 128 + the signal that ended it.
    public var exitStatus: Int32? { reaped.withLock { $0 } }

    /// Starts `executable` with `arguments` (not including argv[0]) and `environment` ("NAME=value").
    public init(executable: String, arguments: [String], environment: [String], logPath: String) throws(ChildProcessError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError(executable: executable, errno: result) }
        self.pid = pid
    }

    /// Reaps the process if it has exited; true once it has.
    @discardableResult
    public func poll() -> Bool {
        reaped.withLock { exit in
            if exit != nil { return true }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return false }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
            let signal = status & 0x7f
            exit = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return true
        }
    }

    /// Sends `signal` to the process's group (it and whatever it started) unless the process
    /// has been reaped (checked under the same lock as reaping, so a reused pid is never signalled).
    public func send(_ signal: Int32) {
        reaped.withLock { exit in
            guard exit == nil else { return }
            kill(-pid, signal)
        }
    }

    /// Waits until the process exits, polling every 50 ms; false if `timeout` passed first.
    public func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !poll() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; returns once it is reaped.
    public func stop(grace: Duration) async {
        send(SIGTERM)
        if await waitForExit(timeout: grace) { return }
        send(SIGKILL)
        _ = await waitForExit(timeout: .seconds(5))
    }
}

/// A process that could not be started: `EXECUTABLE: cannot start: REASON`.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var executable: String
    public var reason: String

    init(executable: String, errno code: Int32) {
        self.executable = executable
        reason = String(cString: strerror(code))
    }

    public var description: String { "\(executable): cannot start: \(reason)" }
}
