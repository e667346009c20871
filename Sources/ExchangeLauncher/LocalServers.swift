import ExchangeRedis
import Foundation

/// The Redis `exchange up` runs when no `--redis` is given: AOF on, every write fsynced,
/// loopback only, a password required (`secrets/redis.password`, given to the server in
/// a configuration file of mode 600, never on its command line), in the foreground as `up`'s
/// child. A Redis already serving the same directory on the port with the same password
/// (left by an `up` that was killed) is adopted instead.
public struct LocalRedis: Sendable {
    public let port: Int
    let password: String
    /// Nil when adopted.
    let process: ChildProcess?

    /// Starts redis-server on `port` with its files in `directory`, requiring `password`
    /// (written to `configurationFile`); returns once it answers PING.
    public static func start(
        port: Int, directory: String, password: String, configurationFile: String, logPath: String, environment: [String]
    ) async throws -> LocalRedis {
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: port, password: password)
        if await ping(endpoint) {
            guard await servedDirectory(endpoint) == directory else {
                throw LaunchError("another Redis answers on 127.0.0.1:\(port): stop it, choose --redis-port, or give its URL with --redis")
            }
            return LocalRedis(port: port, password: password, process: nil)
        }
        if await ping(RedisEndpoint(host: "127.0.0.1", port: port)) {
            throw LaunchError("a Redis without this cluster's password answers on 127.0.0.1:\(port): stop it, or choose --redis-port")
        }
        guard FileManager.default.createFile(
            atPath: configurationFile, contents: Data("requirepass \(password)\n".utf8), attributes: [.posixPermissions: 0o600]) else {
            throw LaunchError("cannot write \(configurationFile)")
        }
        let process = try ChildProcess(
            executable: "redis-server",
            arguments: [configurationFile, "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes",
                        "--appendfsync", "always", "--save", "", "--logfile", "",
                        // The AOF is rewritten whenever it doubles past 64 MB: with the logs trimmed, it stays bounded.
                        "--auto-aof-rewrite-percentage", "100", "--auto-aof-rewrite-min-size", "64mb"],
            environment: environment, logPath: logPath)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if await ping(endpoint) { return LocalRedis(port: port, password: password, process: process) }
            if process.poll() { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await process.stop(grace: .seconds(5))
        throw LaunchError("redis-server did not start on port \(port); see \(logPath)")
    }

    /// SHUTDOWN (the AOF is fsynced, then the server exits), then reaps it; SIGKILL after 30 s.
    public func stop() async {
        let client = RedisClient(configuration: .init(endpoint: .init(host: "127.0.0.1", port: port, password: password)))
        _ = try? await client.send(["SHUTDOWN"])
        client.shutdown()
        await process?.stop(grace: .seconds(30))
    }

    /// The directory the Redis at `endpoint` keeps its files in.
    static func servedDirectory(_ endpoint: RedisEndpoint) async -> String? {
        let client = RedisClient(configuration: .init(endpoint: endpoint))
        defer { client.shutdown() }
        guard case .array(let pair)? = try? await client.send(["CONFIG", "GET", "dir"]), pair.count == 2, case .bulk(let bytes) = pair[1] else {
            return nil
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// True if the Redis at `endpoint` answers PING (logged in, when it has a password).
    static func ping(_ endpoint: RedisEndpoint) async -> Bool {
        let client = RedisClient(configuration: .init(endpoint: endpoint))
        defer { client.shutdown() }
        guard case .status(let status)? = try? await client.send(["PING"]) else { return false }
        return status == "PONG"
    }
}

/// The PostgreSQL 15 `exchange up` runs when no `--postgres` is given: Debian's binaries
/// (not on PATH), data in `directory`, loopback only, trust authentication, database and
/// superuser `exchange`. As root it runs as the `postgres` user (initdb refuses root).
public struct LocalPostgres: Sendable {
    public let directory: String
    public let port: Int
    let binaries: String

    public var url: String { "postgres://exchange@127.0.0.1:\(port)/exchange" }

    /// Finds the newest PostgreSQL under /usr/lib/postgresql.
    public init(directory: String, port: Int) throws {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/pg_ctl") else {
            throw LaunchError("PostgreSQL is not installed (scripts/bootstrap installs postgresql-15), or give --postgres URL")
        }
        binaries = "\(root)/\(newest)/bin"
        self.directory = directory
        self.port = port
    }

    private var asRoot: Bool { getuid() == 0 }

    /// Initializes the directory if it is empty, starts the server and creates the database.
    public func start(logDirectory: String, environment: [String]) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if asRoot {
            // The server's user must reach its directory through every parent.
            var parent = URL(fileURLWithPath: directory).deletingLastPathComponent()
            while parent.path != "/" {
                var status = stat()
                if stat(parent.path, &status) == 0, status.st_mode & 0o005 != 0o005 { chmod(parent.path, status.st_mode | 0o005) }
                parent = parent.deletingLastPathComponent()
            }
            try await run(["/usr/bin/chown", "postgres:", directory], asOwner: false, log: "\(logDirectory)/postgres-setup.log", environment: environment)
        }
        chmod(directory, 0o700)
        let log = "\(logDirectory)/postgres-setup.log"
        if !FileManager.default.fileExists(atPath: "\(directory)/PG_VERSION") {
            try await run(["\(binaries)/initdb", "-D", directory, "-U", "exchange", "--auth=trust", "-E", "UTF8", "--no-instructions"],
                    asOwner: true, log: log, environment: environment)
        }
        let serverLog = "\(logDirectory)/postgres.log"
        if !FileManager.default.fileExists(atPath: serverLog) {
            FileManager.default.createFile(atPath: serverLog, contents: nil)
        }
        if asRoot { try await run(["/usr/bin/chown", "postgres:", serverLog], asOwner: false, log: log, environment: environment) }
        // A server left running on this directory (by an `up` that was killed) is adopted.
        let running = try? await run(["\(binaries)/pg_ctl", "-D", directory, "status"], asOwner: true, log: log, environment: environment)
        if running == nil {
            try await run(["\(binaries)/pg_ctl", "-D", directory, "-l", serverLog, "-w", "-t", "60",
                 "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                asOwner: true, log: log, environment: environment, failure: "PostgreSQL did not start on port \(port); see \(serverLog)")
        }
        let exists = try? await run(["\(binaries)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "exchange", "-d", "exchange", "-tAc", "SELECT 1"],
                              asOwner: true, log: log, environment: environment)
        if exists == nil {
            try await run(["\(binaries)/createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "exchange", "exchange"],
                    asOwner: true, log: log, environment: environment)
        }
    }

    /// Fast shutdown (open transactions roll back; what committed is on disk).
    public func stop(logDirectory: String, environment: [String]) async {
        _ = try? await run(["\(binaries)/pg_ctl", "-D", directory, "-m", "fast", "-w", "stop"],
                     asOwner: true, log: "\(logDirectory)/postgres-setup.log", environment: environment)
    }

    /// Runs a setup command to its end, as the `postgres` user when `asOwner` and root.
    private func run(_ command: [String], asOwner: Bool, log: String, environment: [String], failure: String? = nil) async throws {
        let full = asOwner && asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
        let process = try ChildProcess(executable: full[0], arguments: Array(full.dropFirst()), environment: environment, logPath: log)
        guard await process.waitForExit(timeout: .seconds(120)) else {
            await process.stop(grace: .seconds(5))
            throw LaunchError("\(command.joined(separator: " ")) did not finish in 2 minutes; see \(log)")
        }
        guard process.exitStatus == 0 else {
            throw LaunchError(failure ?? "\(command.joined(separator: " ")) failed (status \(process.exitStatus ?? -1)); see \(log)")
        }
    }
}

/// Why `exchange up` could not bring the system up: one sentence for the operator.
public struct LaunchError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
