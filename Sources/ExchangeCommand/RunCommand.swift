import ArgumentParser
import ExchangeLogging
import ExchangeOps
import Foundation
import Logging

/// `exchange run --roles matcher:0:a,clearing:0:a,recorder,gateway,marketdata --redis URL …`
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run several roles in one process, in one service group.",
        discussion: """
            ROLES is a comma-separated list of matcher:SHARD:REPLICA, clearing:PARTITION:REPLICA, recorder, gateway, \
            marketdata and admin. Each role runs as its own command would, with its defaults: replicas keep their snapshots in \
            DATA/matcher-S-R and DATA/clearing-P-R, every ops port is a free one (logged as "ops port N" with the role's \
            metadata), the gateway listens on --gateway-port, the market data on --market-data-port and the admin on \
            --admin-port (all HTTPS and WSS only with --tls-cert and --tls-key). With both gateway and marketdata, the gateway does not serve a second \
            copy of the market data. SIGTERM or SIGINT stops them all gracefully; a role that fails stops the others and \
            the process exits 1. The gateway and the admin need EXCHANGE_MASTER_KEY and EXCHANGE_TOKEN_KEY as `exchange gateway` does.
            """)

    @Option(help: "The roles to run, comma-separated: matcher:S:R, clearing:P:R, recorder, gateway, marketdata, admin, wallet.") var roles: String
    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "PostgreSQL (postgres://...): needed by recorder and gateway; gives marketdata its kline history.") var postgres: String?
    @Option(help: "Directory for the replicas' snapshots.") var data = ".run"
    @Option(help: "The gateway's port.") var gatewayPort = 8080
    @Option(help: "The market data's port.") var marketDataPort = 8084
    @Option(help: "The admin service's port.") var adminPort = 8087
    @Option(help: "The gateway's and market data's request weight per minute per IP.") var weightPerMinute: Int64 = 6_000
    @Option(help: "The wallet's Ethereum JSON-RPC node (keys as for `exchange wallet`).") var walletRpc: String?
    @OptionGroup var tlsOptions: TLSOptions

    /// One entry of `--roles`.
    enum Role: Equatable {
        case matcher(shard: UInt32, replica: String)
        case clearing(partition: UInt32, replica: String)
        case recorder, gateway, marketdata, admin, wallet

        init(_ text: Substring) throws {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let invalid = ValidationError("unknown role '\(text)': matcher:SHARD:REPLICA, clearing:PARTITION:REPLICA, recorder, gateway, marketdata, admin or wallet")
            let number = parts.count == 3 && !parts[2].isEmpty && !parts[2].contains(":") ? UInt32(parts[1]) : nil
            switch (parts.first, parts.count) {
            case ("matcher", 3):
                guard let number else { throw invalid }
                self = .matcher(shard: number, replica: parts[2])
            case ("clearing", 3):
                guard let number else { throw invalid }
                self = .clearing(partition: number, replica: parts[2])
            case ("recorder", 1): self = .recorder
            case ("gateway", 1): self = .gateway
            case ("marketdata", 1): self = .marketdata
            case ("admin", 1): self = .admin
            case ("wallet", 1): self = .wallet
            default: throw invalid
            }
        }

        var name: String {
            switch self {
            case .matcher(let shard, let replica): "matcher-\(shard)-\(replica)"
            case .clearing(let partition, let replica): "clearing-\(partition)-\(replica)"
            case .recorder: "recorder"
            case .gateway: "gateway"
            case .marketdata: "marketdata"
            case .admin: "admin"
            case .wallet: "wallet"
            }
        }
    }

    var parsedRoles: [Role] { get throws { try roles.split(separator: ",").map(Role.init) } }

    func validate() throws {
        let list = try parsedRoles
        guard !list.isEmpty else { throw ValidationError("--roles names no role") }
        guard Set(list.map(\.name)).count == list.count else { throw ValidationError("--roles names a role twice") }
        if postgres == nil, list.contains(where: { $0 == .recorder || $0 == .gateway || $0 == .admin || $0 == .wallet }) {
            throw ValidationError("the recorder, the gateway, the admin and the wallet need --postgres")
        }
        if list.contains(.wallet), walletRpc == nil { throw ValidationError("the wallet needs --wallet-rpc") }
    }

    /// The role's own command, parsed from the arguments it would be given alone.
    func command(for role: Role) throws -> any RoleCommand {
        let redis = ["--redis", redisOptions.redis]
        let postgres = self.postgres.map { ["--postgres", $0] } ?? []
        let tls = tlsOptions.tlsCert.map { ["--tls-cert", $0, "--tls-key", tlsOptions.tlsKey ?? ""] } ?? []
        switch role {
        case .matcher(let shard, let replica):
            return try Matcher.parse(["--shard", "\(shard)", "--replica", replica, "--data", "\(data)/\(role.name)", "--ops-port", "0"] + redis).replica
        case .clearing(let partition, let replica):
            return try Clearing.parse(["--partition", "\(partition)", "--replica", replica, "--data", "\(data)/\(role.name)", "--ops-port", "0"] + redis)
                .replica
        case .recorder:
            return try RecorderCommand.parse(["--ops-port", "0"] + redis + postgres)
        case .gateway:
            let alsoMarketData = try parsedRoles.contains(.marketdata)
            return try GatewayCommand.parse(
                ["--port", "\(gatewayPort)", "--ops-port", "0", "--weight-per-minute", "\(weightPerMinute)"] + redis + postgres + tls
                    + (alsoMarketData ? ["--no-market-data"] : []))
        case .marketdata:
            return try MarketDataCommand.parse(["--port", "\(marketDataPort)", "--ops-port", "0", "--weight-per-minute", "\(weightPerMinute)"] + redis + postgres + tls)
        case .admin:
            return try AdminServe.parse(["--port", "\(adminPort)", "--ops-port", "0"] + redis + postgres + tls)
        case .wallet:
            return try WalletCommand.parse(["--rpc", walletRpc ?? "", "--ops-port", "0"] + redis + postgres)
        }
    }

    func run() async throws {
        let list = try parsedRoles
        let process = try RoleProcess.bootstrap(role: "run", location: [("roles", list.map(\.name).joined(separator: ","))])
        var started: [RoleServices] = []
        do {
            for role in list {
                var roleLogger = Logger(label: "exchange.\(role.name)")
                roleLogger[metadataKey: "component"] = "\(role.name)"
                started.append(try await command(for: role).services(logger: roleLogger, registry: process.registry))
            }
        } catch {
            started.flatMap(\.cleanup).forEach { $0() }
            throw error
        }
        try await process.run(started)
    }
}
