import ArgumentParser
import ExchangeAccess
import ExchangeGateway
import ExchangeHTTPAPI
import ExchangeLogging
import ExchangeMarketDataService
import ExchangeOps
import Hummingbird
import ExchangeRedis
import Foundation
import Logging
import Prometheus

/// `exchange gateway`: the REST API traders and bots talk to.
struct GatewayCommand: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "The trader-facing API: Binance Spot compatible /api/v3 (signed with API keys) and the native /api/v1 (users, sessions, keys).",
        discussion: """
            Stateless: run as many as you like behind a load balancer; they share Redis and PostgreSQL. \
            Secrets come from the environment: EXCHANGE_MASTER_KEY (64 hex digits: seals API key secrets) and \
            EXCHANGE_TOKEN_KEY (at least 64 hex digits: signs access tokens), or files named by \
            EXCHANGE_MASTER_KEY_FILE and EXCHANGE_TOKEN_KEY_FILE. Run `exchange migrate` first. Stops on SIGINT or SIGTERM.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var postgresOptions: PostgresOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: a free port, printed).") var port = 8080
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort = 8081
    @Option(help: "bcrypt cost of password hashes (4...31).") var bcryptCost = 10
    @Option(help: "An origin allowed by CORS (repeatable; * for any).") var corsOrigin: [String] = []
    @Option(help: "Request weight per minute per IP.") var weightPerMinute: Int64 = 6_000
    @Option(help: "Orders per 10 seconds per user.") var ordersPer10Seconds: Int64 = 100
    @Flag(inversion: .prefixedNo, help: "Serve the market endpoints and streams (/api/v3/depth…, /ws, /stream) from this process too.")
    var marketData = true
    @OptionGroup var streamOptions: MarketStreamOptions
    @OptionGroup var tlsOptions: TLSOptions

    func validate() throws {
        guard (4...31).contains(bcryptCost) else { throw ValidationError("--bcrypt-cost must be within 4...31") }
        guard (0...65_535).contains(port), (0...65_535).contains(opsPort) else { throw ValidationError("--port and --ops-port must be within 0...65535") }
    }

    /// A key from `NAME` (hex) or the file named by `NAME_FILE` (`SecretFile`: hex on its first line).
    static func key(_ name: String, minimumBytes: Int, maximumBytes: Int) throws -> [UInt8] {
        let environment = ProcessInfo.processInfo.environment
        var text = environment[name]
        if text == nil, let path = environment[name + "_FILE"] {
            guard let contents = SecretFile.read(path) else { throw ValidationError("cannot read \(name)_FILE \(path)") }
            text = contents
        }
        guard let text else { throw ValidationError("set \(name) (hex) or \(name)_FILE") }
        let digits = Array(text.utf8)
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count - 1, by: 2) {
            guard let high = RequestSignature.nibble(digits[index]), let low = RequestSignature.nibble(digits[index + 1]) else { break }
            bytes.append(high << 4 | low)
        }
        guard digits.count % 2 == 0, bytes.count == digits.count / 2, (minimumBytes...maximumBytes).contains(bytes.count) else {
            throw ValidationError("\(name) must be \(minimumBytes == maximumBytes ? "\(minimumBytes)" : "\(minimumBytes) to \(maximumBytes)") bytes in hex")
        }
        return bytes
    }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: "gateway")
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let certificates = try tlsOptions.certificates()
        var configuration = GatewayConfiguration(
            masterKey: try Self.key("EXCHANGE_MASTER_KEY", minimumBytes: 32, maximumBytes: 32),
            tokenKey: try Self.key("EXCHANGE_TOKEN_KEY", minimumBytes: 32, maximumBytes: 128))
        configuration.host = host
        configuration.port = port
        configuration.bcryptCost = UInt8(bcryptCost)
        configuration.corsOrigins = corsOrigin
        configuration.rateLimits.requestWeightPerMinute = weightPerMinute
        configuration.rateLimits.ordersPer10Seconds = ordersPer10Seconds
        let settings = try postgresOptions.settings()
        let redis = try redisOptions.client()
        let marketWaitRedis = try redisOptions.client()
        let postgres = settings.client(maximumConnections: 8, logger: logger)
        let gateway: Gateway
        do {
            // The pool runs only once the group starts: the gateway reads nothing from
            // PostgreSQL while it starts (keys are looked up from the first request on).
            gateway = try await Gateway.start(configuration: configuration, redis: redis, postgres: postgres, logger: logger)
        } catch {
            [redis, marketWaitRedis].forEach { $0.shutdown() }
            throw error
        }
        let hub = marketData ? MarketDataHub(redis: redis, waitRedis: marketWaitRedis, postgres: postgres, logger: logger) : nil
        let limits = streamOptions.limits
        let ops = OpsEndpoint.application(
            port: opsPort, registry: registry, logger: logger,
            health: { hub?.opsHealth ?? OpsEndpoint.Health(ready: true, json: #"{"status":"ok"}"#) }, collect: { hub?.collectMetrics() },
            onListening: { logger.info("ops port \($0)") })
        let host = self.host
        let services = try GatewayService.services(
            gateway, postgres: postgres, logger: logger,
            mount: { router in
                hub?.addMarketRoutes(to: router)
                hub?.addStreamRoutes(to: router, limits: limits, privateEvents: gateway)
            },
            server: { router in
                let plain = MarketDataHub.server(webSocketRouter: router)
                return try certificates.map { try .tls(plain, certificates: $0) } ?? plain
            }
        ) { bound in
            logger.info("listening on \(host):\(bound)\(certificates == nil ? "" : " (HTTPS and WSS only)")")
        }
        return RoleServices(
            // Last to first on shutdown: the gateway's server before everything it relies on.
            services: (certificates.map { [TLSCertificateReloader(certificates: $0, logger: logger)] } ?? []) + [ops]
                + (hub.map { [MarketDataService.Tail(hub: $0)] } ?? []) + services,
            cleanup: [{ gateway.shutdown() }, { [redis, marketWaitRedis].forEach { $0.shutdown() } }])
    }
}

/// `--tls-cert` and `--tls-key`: HTTPS and WSS instead of plain HTTP on a client-facing port.
struct TLSOptions: ParsableArguments {
    @Option(help: "Serve HTTPS and WSS only, with this PEM certificate chain (re-read when the file changes; new connections get the new one). Needs --tls-key.")
    var tlsCert: String?
    @Option(help: "The PEM private key of --tls-cert.") var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The loaded pair, or nil for plain HTTP; a pair that does not load is a usage error.
    func certificates() throws -> TLSCertificates? {
        guard let tlsCert, let tlsKey else { return nil }
        do {
            return try TLSCertificates(certificatePath: tlsCert, keyPath: tlsKey)
        } catch {
            throw ValidationError("TLS certificate \(tlsCert) or key \(tlsKey): \(error)")
        }
    }
}
