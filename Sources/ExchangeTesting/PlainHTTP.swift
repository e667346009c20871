import Foundation

/// A blocking HTTP/1.1 GET over a plain loopback socket, as curl or Prometheus does it (no
/// URLSession), for tests of ops ports.
public enum PlainHTTP {
    public struct ConnectFailed: Error, CustomStringConvertible {
        public let port: Int
        public var description: String { "cannot connect to 127.0.0.1:\(port)" }
    }

    /// GETs `path` from 127.0.0.1:`port` with `headers` ("Name: value" lines) and reads until
    /// the server closes; returns the status and the body.
    public static func get(port: Int, path: String, headers: [String] = []) throws -> (status: Int, body: String) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ConnectFailed(port: port) }
        let fields = (["Host: localhost", "Connection: close"] + headers).joined(separator: "\r\n")
        let request = Array("GET \(path) HTTP/1.1\r\n\(fields)\r\n\r\n".utf8)
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
}
