import ArgumentParser
import ExchangeLauncher
import Foundation

/// `exchange up`: the whole system on this host, in one command.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start the whole system on this host and keep it running until Ctrl-C or SIGTERM.",
        discussion: """
            Without --redis it runs its own Redis (AOF on, every write fsynced) and without --postgres its own \
            PostgreSQL (Debian's binaries; as the postgres user when run as root), both on loopback with their data \
            under --data. Then it migrates, creates the cluster map (--shards, --partitions) unless Redis has one, and \
            starts every role as a child process: each shard's and each partition's replicas (the first primary, the \
            others hot standbys), the recorder, the gateway and the market data; it waits for each group's health \
            checks, lists BTCUSDT and ETHUSDT and makes a funded demo user with a trading API key (once; \
            --no-demo skips it), and prints the URLs and that key. A role that exits is restarted (backoff 1 s to 30 s). \
            Ctrl-C or SIGTERM stops the gateway and market data, then clearing, then the matchers, then the recorder, \
            then PostgreSQL and Redis, and exits once every process is gone. Logs: DATA/logs/NAME.log. Running it \
            again on the same --data resumes the same cluster.
            """)

    @Option(help: "Directory for all state: Redis's AOF, PostgreSQL's data, snapshots, logs, secrets.") var data = ".run"
    @Option(help: "Shards of a new cluster map.") var shards = 2
    @Option(help: "Clearing partitions of a new cluster map.") var partitions = 2
    @Option(help: "Replicas per shard and per partition (the first is primary, the rest hot standbys).") var replicas = 2
    @Option(help: "The gateway's port.") var port = 8080
    @Option(help: "The standalone market data's port (its ops port is the next one).") var marketDataPort = 8084
    @Option(help: "The admin service's port (staff pages and API).") var adminPort = 8087
    @Option(help: "Ops ports of the replicas and the recorder count up from here.") var opsBasePort = 18_080
    @Option(help: "Address the gateway and the market data listen on.") var host = "127.0.0.1"
    @Option(help: "An external Redis (redis://host:port); without it, up runs its own.") var redis: String?
    @Option(help: "Port of the Redis up runs (not 6379: a system Redis may hold it).") var redisPort = 16_379
    @Option(help: "An external PostgreSQL (postgres://...); without it, up runs its own.") var postgres: String?
    @Option(help: "Port of the PostgreSQL up runs (not 5432: the system cluster may hold it).") var postgresPort = 15_432
    @Flag(inversion: .prefixedNo, help: "List BTCUSDT and ETHUSDT and make a funded demo user with an API key (once).") var demo = true
    @Option(help: "Seconds each group of roles may take to become healthy.") var healthTimeout = 90
    @Option(help: "An Ethereum JSON-RPC node (http://…): with it, the wallet role runs for ETH (keys made in DATA/secrets).") var walletRpc: String?
    @OptionGroup var tlsOptions: TLSOptions

    func validate() throws {
        guard (1...64).contains(shards), (1...64).contains(partitions) else { throw ValidationError("--shards and --partitions must be within 1...64") }
        guard (1...26).contains(replicas) else { throw ValidationError("--replicas must be within 1...26") }
        for (name, value) in [("--port", port), ("--market-data-port", marketDataPort), ("--admin-port", adminPort), ("--ops-base-port", opsBasePort),
                              ("--redis-port", redisPort), ("--postgres-port", postgresPort)] where !(1...65_535).contains(value) {
            throw ValidationError("\(name) must be within 1...65535")
        }
        guard healthTimeout > 0 else { throw ValidationError("--health-timeout must be positive") }
        if let walletRpc, !(walletRpc.hasPrefix("http://") || walletRpc.hasPrefix("https://")) {
            throw ValidationError("--wallet-rpc must be an http:// or https:// URL")
        }
    }

    func run() async throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var configuration = LaunchConfiguration(dataDirectory: URL(fileURLWithPath: data).standardizedFileURL.path, executable: executable)
        configuration.shards = shards
        configuration.partitions = partitions
        configuration.plan.replicas = replicas
        configuration.plan.gatewayPort = port
        configuration.plan.marketDataPort = marketDataPort
        configuration.plan.adminPort = adminPort
        configuration.plan.opsBasePort = opsBasePort
        configuration.plan.host = host
        configuration.redisURL = redis
        configuration.redisPort = redisPort
        configuration.postgresURL = postgres
        configuration.postgresPort = postgresPort
        configuration.demo = demo
        configuration.healthTimeout = .seconds(healthTimeout)
        configuration.plan.walletRPC = walletRpc
        if let certificate = tlsOptions.tlsCert, let key = tlsOptions.tlsKey {
            _ = try tlsOptions.certificates()  // a pair that does not load is refused before anything starts
            configuration.plan.tls = (URL(fileURLWithPath: certificate).standardizedFileURL.path, URL(fileURLWithPath: key).standardizedFileURL.path)
        }
        let launcher = Launcher(configuration: configuration, say: logProgress)
        let signals = SignalWaiter(signals: [SIGINT, SIGTERM])
        do {
            try await launcher.run(
                until: {
                    await signals.wait()
                    logProgress("up: stopping (signal received)")
                },
                banner: { ready in
                    // Unbuffered, so a pipe or a file sees it at once.
                    FileHandle.standardOutput.write(Data((Self.banner(ready) + "\n").utf8))
                })
        } catch {
            logProgress("up: \(error)")
            throw ExitCode(1)
        }
    }

    /// What `up` prints once everything answers.
    static func banner(_ ready: Launcher.Ready) -> String {
        let roles = ready.plan.roles.map(\.name)
        var lines = [
            "",
            "OpenExchange is up: \(roles.count) roles (\(roles.joined(separator: ", "))).",
            "  Gateway:      \(ready.gateway)   (Binance Spot REST /api/v3, WebSocket API /ws-api/v3, streams /ws and /stream, native /api/v1 and /ws/v1)",
            "  Market data:  \(ready.marketData)   (REST and streams only)",
            "  Admin:        \(ready.admin)   (staff pages and /api/v1/admin; \(ready.adminEmail), password in \(ready.adminPasswordFile))",
            "  Redis:        \(ready.redis)" + (ready.redisPasswordFile.map { "   (password in \($0); redis-cli reads it from REDISCLI_AUTH)" } ?? ""),
            "  PostgreSQL:   \(ready.postgres)",
            "  Logs:         \(ready.dataDirectory)/logs/",
            "  Metrics:      every role's /metrics, listed for Prometheus (file_sd_configs) in \(ready.dataDirectory)/prometheus-targets.json; rules and a dashboard in deploy/",
            "  Internal token (ops endpoints: Authorization: Bearer): \(ready.internalTokenFile)",
            ready.plan.roles.contains { $0.name == "wallet" }
                ? "  Wallet:       ETH on the node given; hot key in \(ready.dataDirectory)/secrets/hot-wallet.key, deposit seed in \(ready.dataDirectory)/secrets/deposit.seed (keep it offline in production)"
                : "  Wallet:       not running (give --wallet-rpc URL of an Ethereum JSON-RPC node)",
        ]
        if let demo = ready.demo {
            lines += [
                "",
                "A funded demo user (10 BTC, 100 ETH, 100000 USDT; login in \(ready.dataDirectory)/demo-account.json) trades with:",
                "  API key:     \(demo.apiKey)",
                "  API secret:  \(demo.secretKey)",
                "  with ccxt (pip install ccxt==4.5.90), its balance:",
                "  python3 -c \"import ccxt; x = ccxt.binance({'apiKey': '\(demo.apiKey)', 'secret': '\(demo.secretKey)', "
                    + "'options': {'fetchMarkets': {'types': ['spot']}, 'fetchCurrencies': False, 'fetchMargins': False}}); "
                    + "x.urls['api'] = {k: '\(ready.gateway)/' + v.split('/', 3)[3] if isinstance(v, str) else v for k, v in x.urls['api'].items()}; "
                    + "print(x.fetch_balance()['total'])\"",
            ]
        }
        lines += ["", "Stop everything: Ctrl-C here, or kill -TERM \(getpid()).", ""]
        return lines.joined(separator: "\n")
    }
}

/// Suspends until one of `signals` arrives (handled through a dispatch source, not a C handler).
/// Sendable: its stored properties never change after `init` (the sources are only kept
/// alive), and the stream is consumed by one `wait()` at a time.
final class SignalWaiter: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(signals: [Int32]) {
        var continuation: AsyncStream<Int32>.Continuation!
        stream = AsyncStream { continuation = $0 }
        let sink = continuation!
        sources = signals.map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { sink.yield(signal) }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in stream { return }
    }
}
