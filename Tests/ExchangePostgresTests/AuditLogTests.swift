import ExchangeAccess
import ExchangePostgres
import PostgresNIO
import Testing

extension PostgresTests {
    @Test("audit log: concurrent appends make one dense chain; UPDATE, DELETE and TRUNCATE are refused; an edit behind the trigger's back is found")
    func auditLog() async throws {
        try await Self.withDatabase { client in
            try await Self.fresh(client)
            let store = AuditLogStore(postgres: client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await store.append(
                            actorKind: "staff", actor: "ops\(index % 3)@example.com", action: "pair.halt", target: "SYM\(index)", ip: "10.0.0.1",
                            before: #"{"status":"TRADING"}"#, after: #"{"status":"HALT"}"#)
                    }
                }
                try await group.waitForAll()
            }
            guard case .intact(let rows, _) = try await store.verify(pageRows: 7) else { Issue.record("chain broken"); return }
            #expect(rows == 20)
            #expect(try await store.rows(after: 0, limit: 100).map(\.record.id) == Array(1...20))

            for statement in [
                "UPDATE exchange_admin.audit_log SET actor = 'nobody' WHERE id = 5", "DELETE FROM exchange_admin.audit_log WHERE id = 20",
                "TRUNCATE exchange_admin.audit_log",
            ] {
                await #expect(throws: PSQLError.self, "\(statement)") { try await client.query(PostgresQuery(unsafeSQL: statement)) }
            }
            // The owner can switch the trigger off; the chain still tells.
            try await client.query("ALTER TABLE exchange_admin.audit_log DISABLE TRIGGER audit_log_no_update_or_delete")
            try await client.query("UPDATE exchange_admin.audit_log SET after_json = '{\"status\":\"TRADING\"}' WHERE id = 5")
            try await client.query("ALTER TABLE exchange_admin.audit_log ENABLE TRIGGER audit_log_no_update_or_delete")
            #expect(try await store.verify(pageRows: 7) == .broken(id: 5, reason: "its content does not match its hash (edited)"))
        }
    }
}
