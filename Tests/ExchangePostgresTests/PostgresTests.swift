import ExchangeClearing
import ExchangeCore
import ExchangePostgres
import Foundation
import Logging
import PostgresNIO
import Testing

struct PostgresSettingsTests {
    @Test("URLs parse; bad ones are refused with the expected form")
    func urls() throws {
        let settings = try PostgresSettings(url: "postgres://exchange:secret@db.local:6543/ledger")
        #expect(settings == (try PostgresSettings(url: "postgresql://exchange:secret@db.local:6543/ledger")))
        #expect(settings.host == "db.local" && settings.port == 6543 && settings.username == "exchange" && settings.password == "secret" && settings.database == "ledger")
        #expect(try PostgresSettings(url: "postgres://u@h/d").port == 5432)
        let encoded = try PostgresSettings(url: "postgres://ex%40:p%3Fs%2Fs@h/d")
        #expect(encoded.username == "ex@" && encoded.password == "p?s/s" && encoded.host == "h")
        for bad in ["mysql://u@h/d", "postgres://h/d", "postgres://u@h", "postgres://u@h:99999/d", "nonsense"] {
            #expect(throws: PostgresSettingsError.invalid(bad)) { try PostgresSettings(url: bad) }
        }
    }

    @Test("sslmode and sslrootcert as libpq reads them; TLS is off unless asked for")
    func tlsParameters() throws {
        #expect(try PostgresSettings(url: "postgres://u@h/d").tlsMode == .disable)
        let verified = try PostgresSettings(url: "postgres://u@h:5433/d?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(verified.tlsMode == .verifyFull && verified.rootCertificatePath == "/etc/ca.pem" && verified.database == "d" && verified.port == 5433)
        #expect(try PostgresSettings(url: "postgres://u@h/d?sslmode=require").tlsMode == .require)
        #expect(try PostgresSettings(url: "postgres://u@h/d?sslmode=verify-ca").tlsMode == .verifyCA)
        #expect(throws: PostgresSettingsError.invalidParameter("sslmode", "prefer")) { try PostgresSettings(url: "postgres://u@h/d?sslmode=prefer") }
        #expect(throws: PostgresSettingsError.invalidParameter("connect_timeout", "5")) { try PostgresSettings(url: "postgres://u@h/d?connect_timeout=5") }
        #expect(throws: PostgresSettingsError.invalid("postgres://u@h/d?sslmode")) { try PostgresSettings(url: "postgres://u@h/d?sslmode") }
    }
}

/// Against the real PostgreSQL that `scripts/test` starts. Serialized: they share one database.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"] != nil, "set EXCHANGE_TEST_POSTGRES_URL (scripts/test does)"))
struct PostgresTests {
    let logger = Logger(label: "test")

    static func withDatabase(_ body: (PostgresClient) async throws -> Void) async throws {
        let client = try PostgresSettings(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"]!).client()
        let running = Task { await client.run() }
        defer { running.cancel() }
        try await body(client)
    }

    /// Drops every schema the migrations create, then migrates: an empty database.
    static func fresh(_ client: PostgresClient) async throws {
        for schema in ["exchange_user", "exchange_order", "exchange_clearing", "exchange_wallet", "exchange_admin"] {
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
        try await Migrations.migrate(client)
    }

    @Test("migrations apply once, in order, each schema per area; a second run changes nothing")
    func migrations() async throws {
        try await Self.withDatabase { client in
            for schema in ["exchange_user", "exchange_order", "exchange_clearing", "exchange_wallet", "exchange_admin"] {
                try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
            }
            #expect(try await Migrations.migrate(client) == Migrations.all.map(\.version))
            #expect(try await Migrations.migrate(client) == [])
            #expect(try await Migrations.appliedVersions(client) == Migrations.all.map(\.version))
            var schemas: [String] = []
            for try await name in try await client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'exchange_%' ORDER BY 1").decode(String.self) {
                schemas.append(name)
            }
            #expect(schemas == ["exchange_admin", "exchange_clearing", "exchange_order", "exchange_user", "exchange_wallet"])
        }
    }

    @Test("a ledger batch writes transactions, entries and balance movements in one transaction")
    func ledgerProjection() async throws {
        try await Self.withDatabase { client in
            try await Self.fresh(client)
            let btc = AssetCode("BTC")!
            let cause = ClearingCause(producer: ProducerID("p"), position: 3, index: 0)
            var projection = LedgerProjection(partition: 1)
            projection.add([
                .transaction(LedgerTransaction(id: 1, cause: cause, kind: .deposit, entries: [
                    LedgerEntry(account: .external, asset: btc, amount: -100), LedgerEntry(account: .available(7), asset: btc, amount: 100),
                ])),
                .rejected(cause: cause, reason: .insufficientFunds),
                .transaction(LedgerTransaction(id: 2, cause: cause, kind: .orderFreeze, entries: [
                    LedgerEntry(account: .available(7), asset: btc, amount: -30), LedgerEntry(account: .frozen(7), asset: btc, amount: 30),
                ])),
            ])
            #expect(projection.rowCount == 6)
            try await client.withTransaction(logger: logger) { try await projection.write(on: $0, logger: logger) }
            var balances: [String] = []
            for try await (user, asset, available, frozen) in try await client.query(
                "SELECT user_id, asset, available, frozen FROM exchange_clearing.balances").decode((Int64, String, Int64, Int64).self) {
                balances.append("\(user) \(asset) \(available) \(frozen)")
            }
            #expect(balances == ["7 BTC 70 30"])
            var external: [Int64] = []
            for try await amount in try await client.query(
                "SELECT amount FROM exchange_clearing.system_balances WHERE partition = 1 AND account = 'external'").decode(Int64.self) {
                external.append(amount)
            }
            #expect(external == [-100])
            // The same batch again violates the primary keys: the recorder's positions prevent it.
            await #expect(throws: (any Error).self) {
                try await client.withTransaction(logger: logger) { try await projection.write(on: $0, logger: logger) }
            }
        }
    }
}
