import ExchangeOps
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct OpsServerTests {
    /// A blocking GET over a plain socket (no URLSession: it is what curl or Prometheus does).
    func get(_ port: Int, _ path: String) throws -> (status: Int, body: String) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer.prefix(count)
        }
        let text = String(decoding: response, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
    }

    @Test("serves GETs by path with status, type and length; refuses other methods")
    func serves() throws {
        let server = try OpsServer(host: "127.0.0.1", port: 0) { path in
            path == "/health" ? .init(status: 200, contentType: "application/json", body: "{\"ok\":true}") : .init(status: 404, body: "no\n")
        }
        defer { server.shutdown() }
        #expect(server.port > 0)
        #expect(try get(server.port, "/health") == (200, "{\"ok\":true}"))
        #expect(try get(server.port, "/health?verbose=1").status == 200)
        #expect(try get(server.port, "/nope") == (404, "no\n"))
    }

    @Test("a port in use is an error, not a crash")
    func portInUse() throws {
        let first = try OpsServer(host: "127.0.0.1", port: 0) { _ in .init(status: 200, body: "") }
        defer { first.shutdown() }
        #expect(throws: OpsServerError.self) { try OpsServer(host: "127.0.0.1", port: first.port) { _ in .init(status: 200, body: "") } }
    }
}
