import Crypto

/// One row of the audit log: a staff action or a security-relevant user event.
public struct AuditRecord: Sendable, Equatable {
    /// Dense from 1: a missing id is a deleted row.
    public var id: Int64
    /// When, in microseconds since the Unix epoch.
    public var atMicroseconds: Int64
    /// `staff`, `user` or `system`.
    public var actorKind: String
    /// Who: a staff account's or a user's email, or a process's name.
    public var actor: String
    /// What: `login`, `api_key.create`, `pair.halt`…
    public var action: String
    /// On what: a user id, a symbol, a key.
    public var target: String
    /// From where: the client's address ("" for the system).
    public var ip: String
    /// The object before and after, as JSON text ("" when there is none).
    public var before: String
    public var after: String

    public init(
        id: Int64, atMicroseconds: Int64, actorKind: String, actor: String, action: String, target: String, ip: String,
        before: String = "", after: String = ""
    ) {
        self.id = id
        self.atMicroseconds = atMicroseconds
        self.actorKind = actorKind
        self.actor = actor
        self.action = action
        self.target = target
        self.ip = ip
        self.before = before
        self.after = after
    }
}

/// The audit log's tamper evidence: each row carries the SHA-256 of the previous row's hash
/// followed by its own fields (each length-prefixed, so no two records encode alike); the
/// first row's previous hash is 32 zero bytes. Editing, deleting, inserting or reordering a
/// row breaks the chain at that row or the next.
public enum AuditChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// The hash of `record` after a row whose hash is `previous`.
    public static func hash(of record: AuditRecord, previous: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        func field(_ bytes: some Collection<UInt8>) {
            var length = UInt64(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Array(bytes))
        }
        var id = record.id.bigEndian
        withUnsafeBytes(of: &id) { hasher.update(bufferPointer: $0) }
        var at = record.atMicroseconds.bigEndian
        withUnsafeBytes(of: &at) { hasher.update(bufferPointer: $0) }
        for text in [record.actorKind, record.actor, record.action, record.target, record.ip, record.before, record.after] {
            field(text.utf8)
        }
        return Array(hasher.finalize())
    }

    /// A stored row: the record and the two hashes stored with it.
    public struct Row: Sendable, Equatable {
        public var record: AuditRecord
        public var previousHash: [UInt8]
        public var hash: [UInt8]

        public init(record: AuditRecord, previousHash: [UInt8], hash: [UInt8]) {
            self.record = record
            self.previousHash = previousHash
            self.hash = hash
        }
    }

    /// What a walk of the chain found.
    public enum Verdict: Sendable, Equatable {
        /// Every row links and hashes; `rows` of them, the last hash `head`.
        case intact(rows: Int64, head: [UInt8])
        /// The first row that does not hold, and why.
        case broken(id: Int64, reason: String)
    }

    /// Checks rows in id order, continuing a walk that ended at (`rows`, `head`) (a fresh
    /// walk starts at 0 and `genesis`), so a long log is verified page by page.
    public static func verify(_ rows: some Sequence<Row>, after start: (rows: Int64, head: [UInt8]) = (0, genesis)) -> Verdict {
        var (count, head) = start
        for row in rows {
            guard row.record.id == count + 1 else {
                return .broken(id: row.record.id, reason: "expected row \(count + 1): a row is missing or out of order")
            }
            guard row.previousHash == head else { return .broken(id: row.record.id, reason: "does not link to the row before") }
            guard hash(of: row.record, previous: head) == row.hash else {
                return .broken(id: row.record.id, reason: "its content does not match its hash (edited)")
            }
            count += 1
            head = row.hash
        }
        return .intact(rows: count, head: head)
    }
}
