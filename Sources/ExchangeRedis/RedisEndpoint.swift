import Foundation

/// Where a Redis server is, how to log in, and how durable a write must be before it counts.
///
/// Parsed from one of two URL forms (the password percent-decoded):
/// - `redis://[[username]:password@]host[:port][/db][?wait=N]`: one server;
/// - `redis+sentinel://[[username]:password@]host[:port],host[:port]…/MASTER[?wait=N]`: the
///   master Sentinel names `MASTER`, asked of the listed sentinels (port 26379 unless given)
///   on every new connection, so the client follows a failover. `wait` defaults to 1 here.
///
/// `wait=N` (`acknowledgingReplicas`): every pipeline that writes ends with `WAIT N`, and a
/// write fewer than N replicas took fails with `RedisError.notReplicated`, so nothing the
/// system acknowledges lives on the master alone. (Writes whose loss in a failover is
/// harmless may opt out: `RedisClient.pipeline(bytes:awaitingReplicas:)`.)
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// A server's address.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// Sentinel discovery: the master named `masterName`, as the first answering sentinel says.
    public struct Sentinel: Sendable, Equatable {
        public var masterName: String
        /// Never empty.
        public var sentinels: [Address]

        public init(masterName: String, sentinels: [Address]) {
            precondition(!sentinels.isEmpty, "a sentinel endpoint needs at least one sentinel")
            self.masterName = masterName
            self.sentinels = sentinels
        }
    }

    /// The server (one-server form), or the first sentinel (Sentinel form).
    public var host: String
    public var port: Int
    /// Sent with `AUTH` on every new connection to a Redis server (not to sentinels) when set.
    public var username: String?
    public var password: String?
    /// Set in the Sentinel form.
    public var sentinel: Sentinel?
    /// Replicas that must acknowledge each writing pipeline (`WAIT`); 0: none.
    public var acknowledgingReplicas: Int

    public init(host: String, port: Int = 6379, username: String? = nil, password: String? = nil, acknowledgingReplicas: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.acknowledgingReplicas = acknowledgingReplicas
    }

    /// The Sentinel form: the master `masterName` as `sentinels` name it.
    public init(sentinel: Sentinel, username: String? = nil, password: String? = nil, acknowledgingReplicas: Int = 1) {
        self.init(
            host: sentinel.sentinels[0].host, port: sentinel.sentinels[0].port, username: username, password: password,
            acknowledgingReplicas: acknowledgingReplicas)
        self.sentinel = sentinel
    }

    public init(url: String) throws(RedisError) {
        let isSentinel: Bool
        var rest: Substring
        if url.hasPrefix("redis://") {
            isSentinel = false
            rest = url.dropFirst("redis://".count)
        } else if url.hasPrefix("redis+sentinel://") {
            isSentinel = true
            rest = url.dropFirst("redis+sentinel://".count)
        } else {
            throw .invalidURL(url)
        }
        var acknowledging = isSentinel ? 1 : 0
        if let question = rest.firstIndex(of: "?") {
            for parameter in rest[rest.index(after: question)...].split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0] == "wait", let count = Int(pair[1]), (0...16).contains(count) else { throw .invalidURL(url) }
                acknowledging = count
            }
            rest = rest[..<question]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard credentials.count == 2, let decoded = String(credentials[1]).removingPercentEncoding, !decoded.isEmpty else { throw .invalidURL(url) }
            username = credentials[0].isEmpty ? nil : String(credentials[0])
            password = decoded
            rest = rest[rest.index(after: at)...]
        }
        if isSentinel {
            guard !path.isEmpty, !path.contains("/") else { throw .invalidURL(url) }
            let addresses = try rest.split(separator: ",", omittingEmptySubsequences: false).map { part throws(RedisError) in
                guard let address = Self.address(part, defaultPort: 26_379) else { throw RedisError.invalidURL(url) }
                return address
            }
            self.init(
                sentinel: Sentinel(masterName: String(path), sentinels: addresses), username: username, password: password,
                acknowledgingReplicas: acknowledging)
        } else {
            guard let address = Self.address(rest, defaultPort: 6379) else { throw .invalidURL(url) }
            self.init(host: address.host, port: address.port, username: username, password: password, acknowledgingReplicas: acknowledging)
        }
    }

    /// `host[:port]`, or nil when malformed.
    private static func address(_ text: Substring, defaultPort: Int) -> Address? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { return nil }
        guard parts.count == 2 else { return Address(host: String(host), port: defaultPort) }
        guard let port = Int(parts[1]), (1...65_535).contains(port) else { return nil }
        return Address(host: String(host), port: port)
    }

    /// The same place without credentials (what a process is given when its password comes from a file).
    public var withoutCredentials: RedisEndpoint {
        var copy = self
        copy.username = nil
        copy.password = nil
        return copy
    }

    /// The URL without its password (safe to log); it parses back to this endpoint with the
    /// password removed.
    public var description: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        let defaultWait = sentinel == nil ? 0 : 1
        let wait = acknowledgingReplicas == defaultWait ? "" : "?wait=\(acknowledgingReplicas)"
        if let sentinel {
            return "redis+sentinel://\(credentials)\(sentinel.sentinels.map(\.description).joined(separator: ","))/\(sentinel.masterName)\(wait)"
        }
        return "redis://\(credentials)\(Address(host: host, port: port))\(wait)"
    }
}
