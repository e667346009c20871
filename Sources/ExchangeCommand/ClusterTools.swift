import ArgumentParser
import ExchangeAccess
import ExchangeClusterTools
import ExchangeOrderFlow
import ExchangePostgres
import ExchangeRedis
import Foundation
import Prometheus

/// How a producer packs commands into shard log entries.
struct FeedOptions: ParsableArguments {
    @Option(help: "Commands per shard input log entry, at most (1 to 65536).") var entryCommands: Int = 256
    @Option(help: "With a rate: microseconds commands wait for more before they are appended, at most (also the pacing step).")
    var lingerMicroseconds: Int = 1_000
    @Option(help: "Trace the order of one flow line in N, each under a fresh sampled trace (what tracing costs the matchers; shard input only).")
    var traceEvery: Int?

    func validate() throws {
        guard (1...65_536).contains(entryCommands) else { throw ValidationError("--entry-commands must be between 1 and 65536") }
        guard (1...1_000_000).contains(lingerMicroseconds) else { throw ValidationError("--linger-microseconds must be between 1 and 1000000") }
        if let traceEvery, traceEvery < 1 { throw ValidationError("--trace-every must be at least 1") }
    }

    func feeder(client: RedisClient) -> FlowFeeder {
        var feeder = FlowFeeder(client: client)
        feeder.entryCommands = entryCommands
        feeder.batchLinger = .microseconds(lingerMicroseconds)
        feeder.traceEvery = traceEvery
        return feeder
    }

    /// For commands that feed clearing: traced flows are for the matchers alone.
    func validateForClearing() throws {
        if traceEvery != nil { throw ValidationError("--trace-every traces shard input only (feed, bench cluster)") }
    }

    func clearingFeeder(client: RedisClient) -> ClearingFlowFeeder {
        var feeder = ClearingFlowFeeder(client: client)
        feeder.entryCommands = entryCommands
        feeder.batchLinger = .microseconds(lingerMicroseconds)
        return feeder
    }
}

/// `exchange feed FLOW --redis URL [--rate R] [--entry-commands N]`
struct Feed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append an order-flow file's commands to the owning shards' input logs (symbols registered first).")

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var feedOptions: FeedOptions
    @Argument(help: "The order-flow file.") var flow: String
    @Option(help: "Commands per second (default: as fast as Redis takes them).") var rate: Double?
    @Flag(help: "Send places through the users' clearing partitions (symbols listed and users funded first).")
    var viaClearing = false

    func validate() throws {
        if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
        if viaClearing { try feedOptions.validateForClearing() }
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let parsed = try ReplayTool.loadFlow(flow)
            let total = parsed.entries.count
            var lastPercent = -1
            let report = { (done: Int) in
                let percent = total == 0 ? 100 : done * 100 / total
                if percent / 5 != lastPercent / 5 {
                    lastPercent = percent
                    logProgress("feed: \(percent)% (\(done)/\(total))")
                }
            }
            if viaClearing {
                try await feedOptions.clearingFeeder(client: client).feed(parsed, rate: rate, progress: report)
            } else {
                try await feedOptions.feeder(client: client).feed(parsed, rate: rate, progress: report)
            }
        }
    }
}

/// `exchange collect --redis URL [--output FILE]`
struct Collect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn the shards' output logs back into the order-flow output format (compare with exchange replay).")

    @OptionGroup var redisOptions: RedisOptions
    @Option(name: .shortAndLong, help: "Write here instead of stdout (a regular file is replaced whole; a device or pipe is written in place).") var output: String?

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let text = try await ClusterCollector(client: client).collect()
            if let output {
                try ReplayTool.writeOutput(text, to: output)
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }
}

/// `--metrics-file PATH`: an audit's verdict for Prometheus, through node_exporter's textfile
/// collector (a batch job has no port to scrape): `exchange_audit_ok{audit=…}` (1 passed, 0
/// failed or could not run) and `exchange_audit_last_run_timestamp_seconds{audit=…}`; the
/// alert rules in deploy/ fire on a failure and on an audit that stopped running.
struct AuditMetricsOptions: ParsableArguments {
    @Option(help: "Write the verdict here in Prometheus text (node_exporter's textfile collector: a *.prom file in its directory).")
    var metricsFile: String?

    /// Runs `audit` (true: passed) and records its verdict; a thrown error counts as failed.
    func recording(_ name: String, _ audit: () async throws -> Bool) async throws {
        var passed = false
        defer { if let metricsFile { write(name, passed: passed, to: metricsFile) } }
        passed = try await audit()
        if !passed { throw ExitCode(1) }
    }

    private func write(_ name: String, passed: Bool, to path: String) {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(
            descriptor: .init(namespace: "exchange", metricName: "audit", unitName: "ok", helpText: "Whether the last audit passed (1) or failed or could not run (0)."),
            labels: [("audit", name)]
        ).set(to: passed ? 1 : 0)
        registry.makeGauge(
            descriptor: .init(namespace: "exchange", metricName: "audit_last_run_timestamp", unitName: "seconds", helpText: "When the last audit finished, Unix seconds."),
            labels: [("audit", name)]
        ).set(to: Date().timeIntervalSince1970)
        do {
            try OutputFile.write(Array(registry.emitToString().utf8), to: path)
        } catch {
            logProgress("audit: \(error)")
        }
    }
}

/// `exchange audit shards --redis URL`
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check invariants.", subcommands: [AuditShards.self, AuditClearing.self, AuditLog.self])
}

struct AuditShards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Replay each shard's input log on a fresh engine and check its output log: no gap, no duplicate, no divergence.",
        discussion: "Exit 0 only if every shard passes. Outputs behind the input (lag) are reported, not failed, unless --require-complete.")

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var metricsOptions: AuditMetricsOptions
    @Flag(help: "Also fail when a shard has not emitted outputs for every input yet.") var requireComplete = false

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors { try await metricsOptions.recording("shards") {
            var failed = false
            for report in try await ShardAuditor(client: client).audit() {
                let complete = report.outputs == report.inputs
                let verdict = report.problems.isEmpty && (complete || !requireComplete) ? "ok" : "FAILED"
                if verdict != "ok" { failed = true }
                print("shard \(report.shard): \(verdict): \(report.inputs) inputs, \(report.outputs) outputs checked, epochs \(report.epochs.sorted())\(complete ? "" : ", lag \(report.inputs - report.outputs)")")
                for problem in report.problems { print("  \(problem)") }
                for replica in report.replicas {
                    let digest = replica.digest.map { " digest \(String($0, radix: 16)) at \(replica.digestPosition ?? 0)" } ?? ""
                    print("  replica \(replica.name): \(replica.role), applied \(replica.appliedPosition), epoch \(replica.epoch)\(digest)")
                }
            }
            return !failed
        } }
    }
}

struct AuditClearing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clearing",
        abstract: "Prove from the logs that no money was made or lost: replay every clearing partition and check the ledger, the balances and the settlement of every trade.",
        discussion: "Prints each check with its figures. Exit 0 only if all hold. Run it when the order path is quiet (`exchange ctl status`: every output watermark at its input's end): trades not yet settled fail the last check.")

    @OptionGroup var redisOptions: RedisOptions
    @Option(help: "Also check PostgreSQL (postgres://...): its ledger, and its balances against the partitions (run when the recorder caught up).")
    var postgres: String?
    @OptionGroup var metricsOptions: AuditMetricsOptions

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        let settings: PostgresSettings?
        do { settings = try postgres.map { try PostgresSettings(url: $0) } } catch { throw ValidationError("\(error)") }
        try await runReportingErrors { try await metricsOptions.recording("clearing") {
            let auditor = ClearingAuditor(client: client)
            let checks = if let settings {
                try await withPostgres(settings) { try await auditor.audit(postgres: $0) }
            } else {
                try await auditor.audit()
            }
            for check in checks {
                print("\(check.passed ? "ok  " : "FAIL") \(check.name)")
                for line in check.details { print("       \(line)") }
            }
            return checks.allSatisfy(\.passed)
        } }
    }
}

/// `exchange audit log --postgres URL`
struct AuditLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Verify the audit log's hash chain: every row present, in order, unedited.",
        discussion: "Walks exchange_admin.audit_log from its first row. Exit 0 only if the chain holds; otherwise names the first row that does not.")

    @OptionGroup var postgresOptions: PostgresOptions
    @OptionGroup var metricsOptions: AuditMetricsOptions

    func run() async throws {
        let settings = try postgresOptions.settings()
        try await runReportingErrors { try await metricsOptions.recording("log") {
            switch try await withPostgres(settings, { try await AuditLogStore(postgres: $0).verify() }) {
            case .intact(let rows, let head):
                print("ok   audit log: \(rows) rows, chain intact, head \(RequestSignature.hexString(head))")
                return true
            case .broken(let id, let reason):
                print("FAIL audit log: row \(id) \(reason)")
                return false
            }
        } }
    }
}
