/// What `exchange up` runs, decided before anything starts: every role process with its
/// arguments, its log's name, where it answers health checks, and the order in which they
/// start and stop. Pure: the same options always give the same plan.
///
/// Invariants: every process has a distinct name and listens on distinct ports; start order is
/// the order path's back to front (matchers, clearing, recorder, then the front doors) and stop
/// order its front to back, so the gateway stops taking orders first and the recorder
/// records what the others wrote before it stops.
public struct LaunchPlan: Sendable, Equatable {
    /// Primaries trim their logs below what the recorder and the gateways took (both run here)
    /// and an hour of outputs, so Redis stays bounded however long `up` runs.
    static let logTrimming = ["--trim-log", "--required-consumers", "recorder,gateway", "--output-retention-seconds", "3600"]

    /// One role process.
    public struct Role: Sendable, Equatable {
        /// Names its log file and its lines in `up`'s output: "matcher-0-a".
        public var name: String
        /// The `exchange` subcommand and its options.
        public var arguments: [String]
        /// A loopback port and path that answer 200 once the role is serving.
        public var healthPort: Int
        public var healthPath: String
        /// The loopback port whose `/metrics` Prometheus scrapes.
        public var metricsPort: Int
        /// Started after every role of a lower tier is healthy.
        public var tier: Int
        /// Stopped after every role of a lower rank has exited.
        public var stopRank: Int
    }

    /// The counts and ports an operator chooses (`exchange up --help`).
    public struct Options: Sendable, Equatable {
        /// Replicas per shard and per partition: the first starts as primary, the rest are hot standbys.
        public var replicas: Int = 2
        /// The gateway's port (Binance REST, WebSocket API, the mounted market data).
        public var gatewayPort: Int = 8080
        /// The standalone market data's port; its ops port is the next one.
        public var marketDataPort: Int = 8084
        /// The admin service's port (staff API and pages).
        public var adminPort: Int = 8087
        /// Ops ports for replicas and the recorder are counted up from here.
        public var opsBasePort: Int = 18_080
        /// Address the gateway and market data listen on.
        public var host: String = "127.0.0.1"
        /// PEM certificate chain and key: the gateway and the market data serve HTTPS and WSS only.
        public var tls: (certificate: String, key: String)?
        /// An Ethereum JSON-RPC node: with it, the wallet role runs (ETH deposits and withdrawals).
        public var walletRPC: String?

        public static func == (lhs: Options, rhs: Options) -> Bool {
            lhs.replicas == rhs.replicas && lhs.gatewayPort == rhs.gatewayPort && lhs.marketDataPort == rhs.marketDataPort
                && lhs.adminPort == rhs.adminPort
                && lhs.opsBasePort == rhs.opsBasePort && lhs.host == rhs.host && lhs.tls?.certificate == rhs.tls?.certificate
                && lhs.tls?.key == rhs.tls?.key && lhs.walletRPC == rhs.walletRPC
        }

        public init() {}
    }

    public var roles: [Role]

    /// Replica names: a, b, c, …
    static func replicaName(_ index: Int) -> String { String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index))) }

    /// The plan for a cluster whose map lists `shardIDs` and `partitionCount` partitions, on
    /// `redis` and `postgres`, with its state under `dataDirectory`.
    public init(
        options: Options, shardIDs: [UInt32], partitionCount: Int, redis: String, postgres: String, dataDirectory: String
    ) throws(LaunchPlanError) {
        guard !shardIDs.isEmpty, partitionCount >= 1 else { throw .invalid("the cluster map needs a shard and a partition") }
        guard (1...26).contains(options.replicas) else { throw .invalid("--replicas must be within 1...26") }
        var roles: [Role] = []
        var opsPort = options.opsBasePort
        func nextOpsPort() -> Int {
            defer { opsPort += 1 }
            return opsPort
        }
        /// Every replica of `ids` for `kind` ("matcher" with `--shard`, "clearing" with `--partition`).
        func replicas(_ kind: String, _ flag: String, _ ids: [UInt32], tier: Int, stopRank: Int) {
            for id in ids {
                for index in 0..<options.replicas {
                    let replica = Self.replicaName(index), port = nextOpsPort(), name = "\(kind)-\(id)-\(replica)"
                    roles.append(Role(
                        name: name,
                        arguments: [kind, flag, "\(id)", "--replica", replica, "--redis", redis, "--data", "\(dataDirectory)/\(name)", "--ops-port", "\(port)"]
                            + Self.logTrimming,
                        healthPort: port, healthPath: "/health", metricsPort: port, tier: tier, stopRank: stopRank))
                }
            }
        }
        replicas("matcher", "--shard", shardIDs, tier: 0, stopRank: 2)
        replicas("clearing", "--partition", (0..<partitionCount).map(UInt32.init), tier: 1, stopRank: 1)
        let recorderPort = nextOpsPort()
        roles.append(Role(
            name: "recorder", arguments: ["recorder", "--redis", redis, "--postgres", postgres, "--ops-port", "\(recorderPort)"],
            healthPort: recorderPort, healthPath: "/health", metricsPort: recorderPort, tier: 2, stopRank: 3))
        let gatewayOpsPort = nextOpsPort()
        let tls = options.tls.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? []
        roles.append(Role(
            name: "gateway",
            arguments: ["gateway", "--redis", redis, "--postgres", postgres, "--host", options.host, "--port", "\(options.gatewayPort)",
                        "--ops-port", "\(gatewayOpsPort)"] + tls,
            healthPort: gatewayOpsPort, healthPath: "/health", metricsPort: gatewayOpsPort, tier: 3, stopRank: 0))
        roles.append(Role(
            name: "marketdata",
            arguments: ["marketdata", "--redis", redis, "--postgres", postgres, "--host", options.host,
                        "--port", "\(options.marketDataPort)", "--ops-port", "\(options.marketDataPort + 1)"] + tls,
            healthPort: options.marketDataPort + 1, healthPath: "/health", metricsPort: options.marketDataPort + 1, tier: 3, stopRank: 0))
        let adminOpsPort = nextOpsPort()
        roles.append(Role(
            name: "admin",
            arguments: ["admin", "--redis", redis, "--postgres", postgres, "--host", options.host, "--port", "\(options.adminPort)",
                        "--ops-port", "\(adminOpsPort)"] + tls,
            healthPort: adminOpsPort, healthPath: "/health", metricsPort: adminOpsPort, tier: 3, stopRank: 0))
        if let rpc = options.walletRPC {
            let walletOpsPort = nextOpsPort()
            roles.append(Role(
                name: "wallet", arguments: ["wallet", "--redis", redis, "--postgres", postgres, "--rpc", rpc, "--ops-port", "\(walletOpsPort)"],
                healthPort: walletOpsPort, healthPath: "/health", metricsPort: walletOpsPort, tier: 3, stopRank: 0))
        }
        let ports = roles.map(\.healthPort) + [options.marketDataPort, options.gatewayPort, options.adminPort]
        guard Set(ports).count == ports.count else {
            throw .invalid("ports overlap: the gateway (\(options.gatewayPort)), market data (\(options.marketDataPort) and \(options.marketDataPort + 1)), admin (\(options.adminPort)) and ops ports (\(options.opsBasePort)...\(opsPort - 1)) must differ")
        }
        guard ports.allSatisfy({ (1...65_535).contains($0) }) else { throw .invalid("every port must be within 1...65535") }
        self.roles = roles
    }

    /// Prometheus file-based service discovery (`file_sd_configs`) for every role's metrics:
    /// one target group per role, labelled `component` (matcher, clearing, recorder, gateway,
    /// marketdata) and `instance_name` (matcher-0-a, …).
    public var prometheusTargets: String {
        let groups = roles.map { role in
            let kind = role.arguments[0]
            return #"{"targets":["127.0.0.1:\#(role.metricsPort)"],"labels":{"component":"\#(kind)","instance_name":"\#(role.name)"}}"#
        }
        return "[\n  " + groups.joined(separator: ",\n  ") + "\n]\n"
    }

    /// Groups in start order, each started together: matchers, clearing, the recorder, the front doors.
    public var startGroups: [[Role]] { Self.groups(of: roles, by: \.tier) }

    /// Groups in stop order, each stopped together: the front doors, clearing, matchers, the recorder.
    public var stopGroups: [[Role]] { Self.stopGroups(of: roles) }

    /// `roles` grouped in stop order.
    static func stopGroups(of roles: [Role]) -> [[Role]] { groups(of: roles, by: \.stopRank) }

    private static func groups(of roles: [Role], by rank: (Role) -> Int) -> [[Role]] {
        Dictionary(grouping: roles, by: rank).sorted { $0.key < $1.key }.map(\.value)
    }
}

/// A plan that cannot run, with the reason an operator reads.
public enum LaunchPlanError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): reason
        }
    }
}
