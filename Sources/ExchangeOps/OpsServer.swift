import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server for a role's ops port: `GET` only, one response per connection
/// (`Connection: close`), for health checks and Prometheus scrapes. Runs on its own thread;
/// `respond` must be quick and thread-safe. Not for client traffic (the gateway has a real
/// HTTP stack).
public final class OpsServer: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public let port: Int
    private let listener: Int32
    /// Set (under its lock) by whichever of `shutdown()` and the serving thread goes first, so
    /// the listener is shut down and closed exactly once and never after its number is reused.
    private let state: ListenerState

    /// Binds `host:port` (port 0 picks a free one; see `port`) and starts serving.
    public init(host: String = "0.0.0.0", port: Int, respond: @escaping @Sendable (_ path: String) -> Response) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw OpsServerError.system("socket", errno) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw OpsServerError.invalidHost(host)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            let code = errno
            close(descriptor)
            throw OpsServerError.system("bind \(host):\(port)", code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        listener = descriptor
        let state = ListenerState()
        self.state = state
        let thread = Thread { Self.serve(listener: descriptor, state: state, respond: respond) }
        thread.name = "ops :\(self.port)"
        thread.start()
    }

    /// Stops accepting. The serving thread wakes with an error, closes the listener and ends;
    /// closing it here instead could hand its descriptor number to a new socket while the
    /// thread still accepts on it.
    public func shutdown() {
        state.withLock { closed in
            guard !closed else { return }
            Glibc.shutdown(listener, Int32(SHUT_RDWR))
        }
    }

    private static func serve(listener: Int32, state: ListenerState, respond: @Sendable (String) -> Response) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                let code = errno
                // Transient: an aborted connection, or out of descriptors for a moment.
                if [EINTR, ECONNABORTED, EMFILE, ENFILE, EPROTO, ENOBUFS, ENOMEM].contains(code) {
                    if code != EINTR, code != ECONNABORTED { usleep(10_000) }
                    continue
                }
                state.withLock { closed in
                    closed = true
                    close(listener)
                }
                return
            }
            // A slow client gets one second per read and per write, then is dropped.
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(connection, respond: respond)
            close(connection)
        }
    }

    private static func handle(_ connection: Int32, respond: @Sendable (String) -> Response) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let deadline = ContinuousClock.now + .seconds(2)
        while request.count < 16_384, !request.containsHeaderEnd, ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            request += buffer.prefix(count)
        }
        let line = String(decoding: request.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self).split(separator: " ")
        let response: Response
        if line.count >= 2, line[0] == "GET" {
            response = respond(String(line[1].split(separator: "?").first ?? ""))
        } else {
            response = Response(status: 405, body: "only GET\n")
        }
        let reason = [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][response.status] ?? "Status"
        let body = Array(response.body.utf8)
        let head = "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + body
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(connection, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }
}

public enum OpsServerError: Error, CustomStringConvertible {
    case system(String, Int32)
    case invalidHost(String)

    public var description: String {
        switch self {
        case .system(let operation, let code): "\(operation): \(String(cString: strerror(code)))"
        case .invalidHost(let host): "invalid IPv4 address '\(host)'"
        }
    }
}

private extension Array where Element == UInt8 {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for index in 0...(count - 4) where self[index] == 13 && self[index + 1] == 10 && self[index + 2] == 13 && self[index + 3] == 10 {
            return true
        }
        return false
    }
}

/// Whether the listener was closed; `withLock` runs its body under the lock.
private final class ListenerState: Sendable {
    private let closed = Mutex(false)
    func withLock(_ body: (inout Bool) -> Void) { closed.withLock { body(&$0) } }
}
