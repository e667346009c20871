import ExchangeOps
import ExchangeTesting
import Foundation
import Testing

@Suite struct OpsServerTests {
    @Test("serves GETs by path with status, type and length; refuses other methods")
    func serves() throws {
        let server = try OpsServer(host: "127.0.0.1", port: 0) { path in
            path == "/health" ? .init(status: 200, contentType: "application/json", body: "{\"ok\":true}") : .init(status: 404, body: "no\n")
        }
        defer { server.shutdown() }
        #expect(server.port > 0)
        #expect(try PlainHTTP.get(port: server.port, path: "/health") == (200, "{\"ok\":true}"))
        #expect(try PlainHTTP.get(port: server.port, path: "/health?verbose=1").status == 200)
        #expect(try PlainHTTP.get(port: server.port, path: "/nope") == (404, "no\n"))
    }

    @Test("a port in use is an error, not a crash")
    func portInUse() throws {
        let first = try OpsServer(host: "127.0.0.1", port: 0) { _ in .init(status: 200, body: "") }
        defer { first.shutdown() }
        #expect(throws: OpsServerError.self) { try OpsServer(host: "127.0.0.1", port: first.port) { _ in .init(status: 200, body: "") } }
    }
}
