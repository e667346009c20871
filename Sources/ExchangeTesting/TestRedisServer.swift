import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// redis-server and redis-sentinel processes a test starts for itself (to restart, kill or
/// fail over without touching the shared test Redis), daemonised on loopback ports.
public enum TestRedisServer {
    /// Starts a redis-server on `port` with its AOF (`appendfsync always`) in `directory` and
    /// waits until it answers; `arguments` are added to its command line (`--replicaof`, …).
    public static func start(port: Int, directory: String, arguments: [String] = []) async throws {
        _ = try run("/usr/bin/redis-server", [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "yes", "--logfile", "\(directory)/redis-\(port).log", "--pidfile", "\(directory)/redis-\(port).pid",
        ] + arguments)
        try await waitUntilAnswering(port: port)
    }

    /// Starts a sentinel on `port` watching the master `name` at 127.0.0.1:`masterPort` (quorum 1),
    /// declaring it down after `downAfter`; its configuration file lives in `directory`.
    public static func startSentinel(port: Int, directory: String, name: String, masterPort: Int, downAfter: Duration) async throws {
        let file = "\(directory)/sentinel-\(port).conf"
        let milliseconds = downAfter.components.seconds * 1000 + downAfter.components.attoseconds / 1_000_000_000_000_000
        try """
        port \(port)
        bind 127.0.0.1
        daemonize yes
        pidfile \(directory)/sentinel-\(port).pid
        logfile \(directory)/sentinel-\(port).log
        dir \(directory)
        sentinel monitor \(name) 127.0.0.1 \(masterPort) 1
        sentinel down-after-milliseconds \(name) \(milliseconds)
        sentinel failover-timeout \(name) 3000

        """.write(toFile: file, atomically: false, encoding: .utf8)
        _ = try run("/usr/bin/redis-server", [file, "--sentinel"])
        try await waitUntilAnswering(port: port)
    }

    /// Kills the server (or sentinel) on `port` with SIGKILL, as a host that dies would.
    public static func kill(port: Int, directory: String, sentinel: Bool = false) throws {
        try send(SIGKILL, port: port, directory: directory, sentinel: sentinel)
    }

    /// Sends `signal` to the server (or sentinel) on `port`: SIGSTOP and SIGCONT freeze and
    /// resume it, as a host that stalls and comes back.
    public static func send(_ signal: Int32, port: Int, directory: String, sentinel: Bool = false) throws {
        let path = "\(directory)/\(sentinel ? "sentinel" : "redis")-\(port).pid"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw POSIXError(.ESRCH)
        }
        Glibc.kill(pid, signal)
    }

    /// Runs redis-cli against 127.0.0.1:`port`; returns its exit status.
    @discardableResult
    public static func cli(_ port: Int, _ arguments: [String]) throws -> Int32 {
        try run("/usr/bin/redis-cli", ["-p", "\(port)"] + arguments)
    }

    private static func waitUntilAnswering(port: Int) async throws {
        for _ in 0..<200 where try cli(port, ["ping"]) != 0 { try await Task.sleep(for: .milliseconds(25)) }
    }

    /// Runs `executable` to its end (posix_spawn and waitpid: Foundation's Process does not reap
    /// its children reliably from a concurrent context); its output is discarded. Returns its exit status.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else { throw POSIXError(.ENOENT) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xFF
    }

    /// A loopback port nothing listens on now.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
