import ArgumentParser
import ExchangeLogging
import ExchangeClusterTools
import ExchangeOps
import ExchangePostgres
import ExchangeRedis
import Foundation
import PostgresNIO
import Prometheus
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import ExchangeMetrics

struct PostgresOptions: ParsableArguments {
    @Option(help: "PostgreSQL, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
    var postgres: String = "postgres://exchange@127.0.0.1:5432/exchange"

    func settings() throws -> PostgresSettings {
        do { return try PostgresSettings(url: postgres) } catch { throw ValidationError("\(error)") }
    }
}

/// Runs `body` with a pooled client whose `run()` goes on beside it, then stops it.
func withPostgres<Result: Sendable>(_ settings: PostgresSettings, _ body: (PostgresClient) async throws -> Result) async throws -> Result {
    let client = settings.client()
    let running = Task { await client.run() }
    defer { running.cancel() }
    return try await body(client)
}

/// `exchange migrate --postgres URL`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database's missing migrations, each in its own transaction (a second run changes nothing).")

    @OptionGroup var postgresOptions: PostgresOptions

    func run() async throws {
        let settings = try postgresOptions.settings()
        try await runReportingErrors {
            try await withPostgres(settings) { client in
                let applied = try await Migrations.migrate(client)
                let versions = try await Migrations.appliedVersions(client)
                print(applied.isEmpty
                      ? "up to date: migrations \(versions.map(String.init).joined(separator: ", "))"
                      : "applied migrations \(applied.map(String.init).joined(separator: ", ")); now at \(versions.last ?? 0)")
            }
        }
    }
}

/// `exchange recorder --redis URL --postgres URL`
struct RecorderCommand: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(
        commandName: "recorder",
        abstract: "Project every output log into PostgreSQL: orders, order events and trades; the ledger and balances.",
        discussion: """
            Each batch and its log position are one transaction: restarts neither lose nor duplicate rows. \
            When no pass finishes for --stall-seconds (a connection that hangs after a PostgreSQL restart), \
            it abandons that pass and starts over with new connections. \
            The ops port (default 8088) serves /health and /metrics (rows written, lag per log). Stops on SIGINT or SIGTERM.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var postgresOptions: PostgresOptions
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort: Int = 8088
    @Option(help: "Start over with new PostgreSQL connections when no pass finished for this long.") var stallSeconds: Int = 15
    @Option(help: "After a pass that filled no page, wait this many milliseconds so the next carries more (0: no wait).")
    var batchMilliseconds: Int = 20

    func validate() throws {
        guard stallSeconds > 0 else { throw ValidationError("--stall-seconds must be positive") }
        guard (0...1_000).contains(batchMilliseconds) else { throw ValidationError("--batch-milliseconds must be between 0 and 1000") }
    }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: "recorder")
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let settings = try postgresOptions.settings()
        let redis = try redisOptions.client()
        let totals = RecorderTotals()
        let entries = ObservedCounter(label: "exchange_recorder_entries_total")
        let rows = ObservedCounter(label: "exchange_recorder_rows_total")
        let ops = OpsEndpoint.application(
            port: opsPort, registry: registry, logger: logger,
            health: {
                let snapshot = totals.value.withLock { $0 }
                let fresh = snapshot.at.map { $0.duration(to: .now) < .seconds(5) } ?? false
                return .init(ready: fresh, json: "{\"status\":\"\(fresh ? "ok" : "stale")\",\"entries\":\(snapshot.entries),\"rows\":\(snapshot.rows)}")
            },
            collect: {
                let snapshot = totals.value.withLock { $0 }
                entries.observe(UInt64(snapshot.entries))
                rows.observe(UInt64(snapshot.rows))
                for (stream, lag) in snapshot.lag { Gauge(label: "exchange_recorder_lag_entries", dimensions: [("stream", stream)]).record(Double(lag)) }
            },
            onListening: { logger.info("ops port \($0)") })
        let stall = Duration.seconds(stallSeconds)
        let sessions = RecorderService(
            redis: redis, postgres: settings, totals: totals, stall: stall, batchWindow: .milliseconds(batchMilliseconds), logger: logger)
        return RoleServices(services: [ops, sessions], cleanup: [{ redis.shutdown() }])
    }
}

/// The recorder's sessions as a `Service`: one after another until the group shuts down.
struct RecorderService: Service {
    let redis: RedisClient
    let postgres: PostgresSettings
    let totals: RecorderTotals
    let stall: Duration
    /// `Recorder.batchWindow`.
    let batchWindow: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await RecorderCommand.session(redis: redis, postgres: postgres, totals: totals, stall: stall, batchWindow: batchWindow, logger: logger)
            }
        }
    }
}

extension RecorderCommand {
    /// Records with one PostgreSQL client until cancelled or until no pass finished for
    /// `stall`. A pass that hangs (a query on a connection that died with a PostgreSQL restart
    /// and never fails; seen once in the drills) is then abandoned, not awaited: its
    /// transaction holds its log's position row locked until PostgreSQL ends it, so the next
    /// session neither loses nor duplicates rows.
    static func session(
        redis: RedisClient, postgres settings: PostgresSettings, totals: RecorderTotals, stall: Duration, batchWindow: Duration, logger: Logger
    ) async {
        let postgres = settings.client(logger: logger)
        let running = Task { await postgres.run() }
        let recorder = Recorder(redis: redis, postgres: postgres, batchWindow: batchWindow, logger: logger)
        let started = ContinuousClock.now
        let work = Task {
            try await recorder.run(onPass: { progress in
                totals.value.withLock { $0.entries += progress.entries; $0.rows += progress.rows; $0.at = .now }
            })
        }
        // Lag is read beside the work, five times a second.
        let lagWatch = Task {
            while !Task.isCancelled {
                if let lag = try? await recorder.lag() { totals.value.withLock { $0.lag = lag } }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let lastPass = max(started, totals.value.withLock { $0.at } ?? started)
            if lastPass.duration(to: .now) > stall {
                logger.warning("no pass finished in \(stall): starting over with new PostgreSQL connections")
                break
            }
        }
        work.cancel()
        lagWatch.cancel()
        running.cancel()
    }
}

/// What the recorder reports on its ops port, shared by its tasks.
final class RecorderTotals: Sendable {
    let value = Mutex<(entries: Int, rows: Int, lag: [String: UInt64], at: ContinuousClock.Instant?)>((0, 0, [:], nil))
}
