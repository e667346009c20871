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
    /// A write ran on the master but too few replicas acknowledged it in time (`WAIT`), or the
    /// master refused it for lack of replicas (`NOREPLICAS`): it may or may not survive a
    /// failover, so it is not acknowledged; retrying is safe where the write is idempotent.
    case notReplicated(String)
    /// The URL is not `redis://host[:port]`.
    case invalidURL(String)

    /// Whether retrying later may succeed: the connection failed or broke, Redis is still
    /// loading its data after a restart, or it is busy with a long script (the command did
    /// not run).
    public var isTransient: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .notReplicated: true
        case .server(let message): message.hasPrefix("LOADING") || message.hasPrefix("TRYAGAIN") || message.hasPrefix("BUSY")
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
        case .notReplicated(let reason): "Redis write not acknowledged by its replicas: \(reason)"
        case .invalidURL(let url):
            // Never echo a password.
            "invalid Redis URL '\(url.lastIndex(of: "@").map { "***" + url[$0...] } ?? url)' (expected redis://[[user]:password@]host[:port][?wait=N] or redis+sentinel://[[user]:password@]host[:port],host[:port].../master[?wait=N])"
        }
    }
}
