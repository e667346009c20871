import Foundation
/// Why a Redis request failed.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Connecting failed (refused, unreachable, timed out).
    case connectionFailed(String)
    /// The connection broke or timed out mid-request; the request may or may not have run.
    case connectionLost(String)
    /// Redis answered with an error reply.
    case server(String)
    /// The reply had an unexpected shape for the command.
    case unexpectedReply(String)
    /// The client is shut down.
    case closed
    /// More requests are queued than the client's limit.
    case overloaded
    /// The URL is not `redis://host[:port]`.
    case invalidURL(String)

    /// Whether retrying later may succeed: the connection failed or broke, or Redis is still
    /// loading its data after a restart.
    public var isTransient: Bool {
        switch self {
        case .connectionFailed, .connectionLost: true
        case .server(let message): message.hasPrefix("LOADING") || message.hasPrefix("TRYAGAIN")
        default: false
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let reason): "cannot connect to Redis: \(reason)"
        case .connectionLost(let reason): "Redis connection lost: \(reason)"
        case .server(let message): "Redis error: \(message)"
        case .unexpectedReply(let what): "unexpected Redis reply: \(what)"
        case .closed: "Redis client is closed"
        case .overloaded: "too many queued Redis requests"
        case .invalidURL(let url):
            // Never echo a password.
            "invalid Redis URL '\(url.lastIndex(of: "@").map { "redis://***" + url[$0...] } ?? url)' (expected redis://[[user]:password@]host[:port])"
        }
    }
}

/// Where a Redis server is, and how to log in: parsed from
/// `redis://[[username]:password@]host[:port][/db]` (the password percent-decoded).
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Sent with `AUTH` on every new connection when set (Redis's `requirepass` or an ACL user).
    public var username: String?
    public var password: String?

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    public init(url: String) throws(RedisError) {
        guard url.hasPrefix("redis://") else { throw .invalidURL(url) }
        var rest = url.dropFirst("redis://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard credentials.count == 2, let decoded = String(credentials[1]).removingPercentEncoding, !decoded.isEmpty else { throw .invalidURL(url) }
            username = credentials[0].isEmpty ? nil : String(credentials[0])
            password = decoded
            rest = rest[rest.index(after: at)...]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { throw .invalidURL(url) }
        var port = 6379
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (1...65_535).contains(parsed) else { throw .invalidURL(url) }
            port = parsed
        }
        self.init(host: String(host), port: port, username: username, password: password)
    }

    /// The URL without its password (safe to log).
    public var description: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(credentials)\(host):\(port)"
    }
}
