import ArgumentParser
import ExchangeAccess
import ExchangeHTTPAPI
import ExchangeLogging
import ExchangeMarketDataService
import ExchangeOps
import ExchangePostgres
import Foundation
import PostgresNIO
import Logging
import Prometheus

/// `exchange marketdata`: every shard's market as one, over REST and WebSocket.
struct MarketDataCommand: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(
        commandName: "marketdata",
        abstract: "Public market data: depth, trades, tickers and klines over Binance's REST endpoints and WebSocket streams.",
        discussion: """
            Follows every shard's output log (and new shards as the cluster map lists them). On start it restores each \
            shard's books from its published snapshot and reads the log after it; until every log has been read to its \
            end, /health answers 503 and the market endpoints refuse (-1001). Independent and deterministic: run as many \
            as you like. With --postgres, klines older than what the instance holds come from the trades the recorder \
            wrote. The gateway serves the same endpoints and streams itself unless started with --no-market-data. \
            The ops port serves /health and /metrics. Stops on SIGINT or SIGTERM.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "PostgreSQL (postgres://...) with the recorder's trades: klines older than the instance holds in memory (without it, klines start where its memory does).")
    var postgres: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: a free port, printed).") var port = 8084
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort = 8085
    @Option(help: "Request weight per minute per client address on the REST endpoints (counted with the gateways', in Redis).")
    var weightPerMinute: Int64 = 6_000
    @OptionGroup var streamOptions: MarketStreamOptions
    @OptionGroup var tlsOptions: TLSOptions

    func validate() throws {
        guard (0...65_535).contains(port), (0...65_535).contains(opsPort) else { throw ValidationError("ports must be within 0...65535") }
        guard weightPerMinute > 0 else { throw ValidationError("--weight-per-minute must be positive") }
    }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: "marketdata")
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let certificates = try tlsOptions.certificates()
        let postgresClient: PostgresClient?
        do { postgresClient = try postgres.map { try PostgresSettings(url: $0).client(maximumConnections: 4, logger: logger) } } catch { throw ValidationError("\(error)") }
        let redis = try redisOptions.client()
        let waitRedis = try redisOptions.client()
        let hub = MarketDataHub(redis: redis, waitRedis: waitRedis, postgres: postgresClient, logger: logger)
        let host = self.host
        let services = try MarketDataService.services(
            hub, host: host, port: port, opsPort: opsPort, registry: registry, certificates: certificates, limits: streamOptions.limits,
            requestWeights: RequestWeightLimiter(client: redis, policy: RateLimitPolicy(requestWeightPerMinute: weightPerMinute)),
            postgres: postgresClient, logger: logger, onListening: { logger.info("listening on \(host):\($0)") },
            onOpsListening: { logger.info("ops port \($0)") })
        return RoleServices(services: services, cleanup: [{ [redis, waitRedis].forEach { $0.shutdown() } }])
    }
}

/// The market streams' limits, shared by `marketdata` and `gateway`.
struct MarketStreamOptions: ParsableArguments {
    @Option(help: "Frames queued to one stream client before it is disconnected as too slow.") var streamQueue = 4_096
    @Option(help: "Stream connections per client address.") var streamConnectionsPerAddress = 300
    @Option(help: "Streams one connection may subscribe.") var streamsPerConnection = 1_024
    @Option(help: "Kernel send buffer of each stream socket, bytes (SO_SNDBUF).") var streamSocketBuffer = 262_144

    var limits: MarketStreamLimits {
        var limits = MarketStreamLimits()
        limits.queueCapacity = streamQueue
        limits.connectionsPerAddress = streamConnectionsPerAddress
        limits.subscriptionsPerConnection = streamsPerConnection
        limits.socketSendBufferBytes = streamSocketBuffer
        return limits
    }
}
