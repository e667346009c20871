import ExchangeAccess
import Foundation
import Logging
import PostgresNIO

/// The audit log in PostgreSQL (`exchange_admin.audit_log`): every staff action and every
/// security-relevant user event, appended with its place in the hash chain (`AuditChain`).
///
/// Appends are serialized by a transaction-scoped advisory lock, so ids are dense and each
/// row links to the one before, however many processes append. Rows are never updated or
/// deleted (a trigger refuses it); `verify` walks the chain.
public struct AuditLogStore: Sendable {
    /// The advisory lock key appends take (any constant no other lock uses).
    static let appendLock: Int64 = 0x6175_6469_745f_6c67
    public let postgres: PostgresClient
    let logger: Logger

    public init(postgres: PostgresClient, logger: Logger = Logger(label: "exchange.audit-log")) {
        self.postgres = postgres
        self.logger = logger
    }

    /// Appends an event at the end of the chain (its fields as `AuditRecord` describes them;
    /// the store gives it its id and hashes); returns the record as stored.
    @discardableResult
    public func append(
        actorKind: String, actor: String, action: String, target: String, ip: String, before: String = "", after: String = "",
        atMicroseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)
    ) async throws -> AuditRecord {
        try await postgres.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.appendLock))", logger: logger)
            var last: (id: Int64, hash: [UInt8]) = (0, AuditChain.genesis)
            for try await (id, hash) in try await connection.query(
                "SELECT id, hash FROM exchange_admin.audit_log ORDER BY id DESC LIMIT 1", logger: logger
            ).decode((Int64, PostgresByteA).self) {
                last = (id, hash.bytes)
            }
            let record = AuditRecord(
                id: last.id + 1, atMicroseconds: atMicroseconds, actorKind: actorKind, actor: actor, action: action, target: target, ip: ip,
                before: before, after: after)
            let hash = AuditChain.hash(of: record, previous: last.hash)
            try await connection.query("""
                INSERT INTO exchange_admin.audit_log
                  (id, at_us, actor_kind, actor, action, target, ip, before_json, after_json, previous_hash, hash)
                VALUES (\(record.id), \(record.atMicroseconds), \(record.actorKind), \(record.actor), \(record.action), \(record.target),
                  \(record.ip), \(record.before), \(record.after), \(PostgresByteA(bytes: last.hash)), \(PostgresByteA(bytes: hash)))
                """, logger: logger)
            return record
        }
    }

    /// Rows after id `after`, in id order, at most `limit`.
    /// What an auditor searches by: each given field narrows (`actor`, `action` and `target`
    /// exactly; times in microseconds since the Unix epoch, `from` inclusive, `to` exclusive).
    public struct Search: Sendable, Equatable {
        public var actor: String?
        public var action: String?
        public var target: String?
        public var fromMicroseconds: Int64?
        public var toMicroseconds: Int64?
        /// Rows with ids below this (paging backwards from the newest).
        public var beforeID: Int64?

        public init(actor: String? = nil, action: String? = nil, target: String? = nil, fromMicroseconds: Int64? = nil,
                    toMicroseconds: Int64? = nil, beforeID: Int64? = nil) {
            self.actor = actor
            self.action = action
            self.target = target
            self.fromMicroseconds = fromMicroseconds
            self.toMicroseconds = toMicroseconds
            self.beforeID = beforeID
        }
    }

    /// The newest `limit` records matching `search`, newest first.
    public func search(_ search: Search, limit: Int) async throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        for try await (id, at, actorKind, actor, action, target, ip, before, after) in try await postgres.query("""
            SELECT id, at_us, actor_kind, actor, action, target, ip, before_json, after_json FROM exchange_admin.audit_log
            WHERE (\(search.actor)::text IS NULL OR actor = \(search.actor)) AND (\(search.action)::text IS NULL OR action = \(search.action))
              AND (\(search.target)::text IS NULL OR target = \(search.target))
              AND at_us >= \(search.fromMicroseconds ?? .min) AND at_us < \(search.toMicroseconds ?? .max) AND id < \(search.beforeID ?? .max)
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, Int64, String, String, String, String, String, String, String).self) {
            records.append(AuditRecord(
                id: id, atMicroseconds: at, actorKind: actorKind, actor: actor, action: action, target: target, ip: ip, before: before, after: after))
        }
        return records
    }

    public func rows(after: Int64, limit: Int) async throws -> [AuditChain.Row] {
        var rows: [AuditChain.Row] = []
        for try await (id, at, actorKind, actor, action, target, ip, before, after, previous, hash) in try await postgres.query("""
            SELECT id, at_us, actor_kind, actor, action, target, ip, before_json, after_json, previous_hash, hash
            FROM exchange_admin.audit_log WHERE id > \(after) ORDER BY id LIMIT \(limit)
            """, logger: logger).decode((Int64, Int64, String, String, String, String, String, String, String, PostgresByteA, PostgresByteA).self) {
            rows.append(AuditChain.Row(
                record: AuditRecord(
                    id: id, atMicroseconds: at, actorKind: actorKind, actor: actor, action: action, target: target, ip: ip, before: before,
                    after: after),
                previousHash: previous.bytes, hash: hash.bytes))
        }
        return rows
    }

    /// Walks the whole chain, `pageRows` at a time.
    public func verify(pageRows: Int = 10_000) async throws -> AuditChain.Verdict {
        var state: (rows: Int64, head: [UInt8]) = (0, AuditChain.genesis)
        var lastID: Int64 = 0
        while true {
            let page = try await rows(after: lastID, limit: pageRows)
            switch AuditChain.verify(page, after: state) {
            case .broken(let id, let reason): return .broken(id: id, reason: reason)
            case .intact(let rows, let head): state = (rows, head)
            }
            guard let last = page.last else { return .intact(rows: state.rows, head: state.head) }
            lastID = last.record.id
        }
    }
}
