import ExchangeAccess
import Testing

struct AuditChainTests {
    static func chain(_ count: Int) -> [AuditChain.Row] {
        var previous = AuditChain.genesis
        return (1...count).map { index in
            let record = AuditRecord(
                id: Int64(index), atMicroseconds: 1_700_000_000_000_000 + Int64(index), actorKind: "staff", actor: "ops@example.com",
                action: "pair.halt", target: "BTCUSDT", ip: "10.0.0.\(index)", before: #"{"status":"TRADING"}"#, after: #"{"status":"HALT"}"#)
            let hash = AuditChain.hash(of: record, previous: previous)
            defer { previous = hash }
            return AuditChain.Row(record: record, previousHash: previous, hash: hash)
        }
    }

    @Test("an untouched chain verifies, also page by page")
    func intact() {
        let rows = Self.chain(10)
        #expect(AuditChain.verify(rows) == .intact(rows: 10, head: rows[9].hash))
        guard case .intact(let count, let head) = AuditChain.verify(rows.prefix(4)) else { Issue.record("broken"); return }
        #expect(AuditChain.verify(rows.dropFirst(4), after: (count, head)) == .intact(rows: 10, head: rows[9].hash))
        #expect(AuditChain.verify([]) == .intact(rows: 0, head: AuditChain.genesis))
    }

    @Test("an edited, deleted, inserted or reordered row is found, at the row it breaks")
    func tampering() {
        var edited = Self.chain(5)
        edited[2].record.after = #"{"status":"TRADING"}"#
        #expect(AuditChain.verify(edited) == .broken(id: 3, reason: "its content does not match its hash (edited)"))

        var rehashed = Self.chain(5)
        rehashed[2].record.actor = "someone-else@example.com"
        rehashed[2].hash = AuditChain.hash(of: rehashed[2].record, previous: rehashed[2].previousHash)
        #expect(AuditChain.verify(rehashed) == .broken(id: 4, reason: "does not link to the row before"))

        var deleted = Self.chain(5)
        deleted.remove(at: 1)
        #expect(AuditChain.verify(deleted) == .broken(id: 3, reason: "expected row 2: a row is missing or out of order"))

        var reordered = Self.chain(5)
        reordered.swapAt(1, 2)
        #expect(AuditChain.verify(reordered) == .broken(id: 3, reason: "expected row 2: a row is missing or out of order"))
    }

    @Test("fields are length-prefixed: moving text between fields changes the hash")
    func unambiguous() {
        let one = AuditRecord(id: 1, atMicroseconds: 0, actorKind: "user", actor: "ab", action: "c", target: "", ip: "")
        let two = AuditRecord(id: 1, atMicroseconds: 0, actorKind: "user", actor: "a", action: "bc", target: "", ip: "")
        #expect(AuditChain.hash(of: one, previous: AuditChain.genesis) != AuditChain.hash(of: two, previous: AuditChain.genesis))
        #expect(AuditChain.hash(of: one, previous: AuditChain.genesis).count == 32)
    }
}
