import ArgumentParser
import ExchangeAccess
import ExchangeAdmin
import ExchangeHTTPAPI
import ExchangeOps
import ExchangePostgres
import Foundation
import Logging
import Prometheus

/// `exchange admin`: the staff API and pages (RBAC, pairs, kill switch, users, audit log).
struct AdminCommand: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "The staff API and web pages: trading pairs, the kill switch, user support, the audit log, the cluster view.",
        discussion: """
            Staff accounts are separate from traders': make the first with `exchange admin add-staff`. Secrets as for \
            `exchange gateway`: EXCHANGE_MASTER_KEY (seals staff second factors) and EXCHANGE_TOKEN_KEY (staff sessions are \
            signed with a key derived from it), or their _FILE variants. Run `exchange migrate` first. Stops on SIGINT or SIGTERM.
            """,
        subcommands: [AdminServe.self, AdminAddStaff.self],
        defaultSubcommand: AdminServe.self)

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        try await AdminServe().services(logger: logger, registry: registry)
    }
}

struct AdminServe: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the admin service (the default).")

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var postgresOptions: PostgresOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: a free port, printed).") var port = 8087
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort = 8089
    @Option(help: "bcrypt cost of staff password hashes (4...31).") var bcryptCost = 10
    @OptionGroup var tlsOptions: TLSOptions

    func validate() throws {
        guard (4...31).contains(bcryptCost) else { throw ValidationError("--bcrypt-cost must be within 4...31") }
        guard (0...65_535).contains(port), (0...65_535).contains(opsPort) else { throw ValidationError("--port and --ops-port must be within 0...65535") }
    }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: "admin")
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let certificates = try tlsOptions.certificates()
        var configuration = AdminConfiguration(
            masterKey: try GatewayCommand.key("EXCHANGE_MASTER_KEY", minimumBytes: 32, maximumBytes: 32),
            tokenKey: try GatewayCommand.key("EXCHANGE_TOKEN_KEY", minimumBytes: 32, maximumBytes: 128))
        configuration.host = host
        configuration.port = port
        configuration.bcryptCost = UInt8(bcryptCost)
        let redis = try redisOptions.client()
        let postgres = try postgresOptions.settings().client(maximumConnections: 4, logger: logger)
        let admin = Admin(configuration: configuration, redis: redis, postgres: postgres, logger: logger)
        let ops = OpsEndpoint.application(
            port: opsPort, registry: registry, logger: logger, health: { OpsEndpoint.Health(ready: true, json: #"{"status":"ok"}"#) },
            collect: {}, onListening: { logger.info("ops port \($0)") })
        let host = self.host
        let services = AdminService.services(
            admin, postgres: postgres, logger: logger,
            server: try certificates.map { try .tls(.http1(), certificates: $0) } ?? .http1()
        ) { bound in
            logger.info("listening on \(host):\(bound)\(certificates == nil ? "" : " (HTTPS only)")")
        }
        return RoleServices(
            services: (certificates.map { [TLSCertificateReloader(certificates: $0, logger: logger)] } ?? []) + [ops] + services,
            cleanup: [{ redis.shutdown() }])
    }
}

/// `exchange admin add-staff EMAIL --role ROLE --postgres URL`: the first SuperAdmin (and any
/// staff account) without a running admin service; the password comes from
/// EXCHANGE_STAFF_PASSWORD or the file named by EXCHANGE_STAFF_PASSWORD_FILE, never an argument.
struct AdminAddStaff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-staff", abstract: "Create a staff account (recorded in the audit log).")

    @OptionGroup var postgresOptions: PostgresOptions
    @Argument(help: "The staff member's email.") var email: String
    @Option(help: "SuperAdmin, Operator, Support or Auditor.") var role: String
    @Option(help: "bcrypt cost (4...31).") var bcryptCost = 10
    @Flag(help: "Succeed without a change when an account with this email exists (for scripts that run on every start).")
    var ifAbsent = false

    func run() async throws {
        guard let role = StaffRole(rawValue: role) else {
            throw ValidationError("--role must be one of \(StaffRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let normalized = Credentials.normalizedEmail(email) else { throw ValidationError("invalid email '\(email)'") }
        let environment = ProcessInfo.processInfo.environment
        guard let password = environment["EXCHANGE_STAFF_PASSWORD"] ?? environment["EXCHANGE_STAFF_PASSWORD_FILE"].flatMap(SecretFile.read) else {
            throw ValidationError("set EXCHANGE_STAFF_PASSWORD or EXCHANGE_STAFF_PASSWORD_FILE")
        }
        do { try Credentials.checkPassword(password) } catch { throw ValidationError("\(error)") }
        guard (4...31).contains(bcryptCost) else { throw ValidationError("--bcrypt-cost must be within 4...31") }
        let masterKey = try GatewayCommand.key("EXCHANGE_MASTER_KEY", minimumBytes: 32, maximumBytes: 32)
        try await runReportingErrors {
          try await withPostgres(try postgresOptions.settings()) { postgres in
            let store = StaffStore(postgres: postgres, masterKey: masterKey, bcryptCost: UInt8(bcryptCost), logger: Logger(label: "exchange.admin"))
            guard let member = try await store.create(email: normalized, password: password, role: role) else {
                if ifAbsent { return }
                throw CtlError("a staff account with email \(normalized) exists")
            }
            _ = try await AuditLogStore(postgres: postgres).append(
                actorKind: "operator", actor: "cli", action: "staff.create", target: "staff:\(member.id)", ip: "local",
                after: #"{"email":"\#(normalized)","role":"\#(role.rawValue)"}"#)
            print("staff \(member.id): \(normalized) (\(role.rawValue))")
          }
        }
    }
}
