/// Finding the server to talk to, and what a writing pipeline must add so its writes count.
enum RedisMasterDiscovery {
    /// How long one sentinel may take to answer before the next one is asked.
    static let sentinelTimeout = Duration.milliseconds(500)

    /// A connection to `endpoint`'s server: the server itself, or the master its sentinels name.
    ///
    /// In the Sentinel form each sentinel is asked in turn, and the server it names must say it
    /// is a master (`ROLE`): a sentinel that has not yet seen a failover names the old master,
    /// now a replica, and the next sentinel is asked instead (Redis's client guidelines).
    static func connect(to endpoint: RedisEndpoint, timeout: Duration) throws(RedisError) -> RedisConnection {
        guard let sentinel = endpoint.sentinel else { return try RedisConnection(endpoint: endpoint, timeout: timeout) }
        var reasons: [String] = []
        for address in sentinel.sentinels {
            do throws(RedisError) {
                let asked = try RedisConnection(endpoint: RedisEndpoint(host: address.host, port: address.port), timeout: min(timeout, sentinelTimeout))
                let named = try asked.pipeline([["SENTINEL", "get-master-addr-by-name", sentinel.masterName].map { Array($0.utf8) }])[0]
                guard let pair = named.array, pair.count == 2, let host = pair[0].string, let port = pair[1].string.flatMap({ Int($0) }) else {
                    reasons.append("sentinel \(address) knows no master '\(sentinel.masterName)' (\(named))")
                    continue
                }
                let master = RedisEndpoint(host: host, port: port, username: endpoint.username, password: endpoint.password)
                let connection = try RedisConnection(endpoint: master, timeout: timeout)
                let role = try connection.pipeline([[Array("ROLE".utf8)]])[0]
                guard role.array?.first?.string == "master" else {
                    reasons.append("sentinel \(address) names \(host):\(port), which is not a master")
                    continue
                }
                return connection
            } catch {
                reasons.append("\(address): \(error)")
            }
        }
        throw .connectionFailed("no sentinel of \(endpoint) named a reachable master: \(reasons.joined(separator: "; "))")
    }

    /// Commands that never write: a pipeline of only these needs no replica's acknowledgement.
    /// Anything else (XADD, scripts, SET, …) counts as a write.
    private static let readOnlyCommands: Set<String> = [
        "PING", "ROLE", "INFO", "TIME", "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "HGET", "HMGET", "HGETALL",
        "HLEN", "HEXISTS", "SMEMBERS", "SISMEMBER", "SCARD", "ZRANGE", "ZRANGEBYSCORE", "ZSCORE", "ZCARD", "LRANGE", "LLEN",
        "XRANGE", "XREVRANGE", "XREAD", "XLEN", "XINFO", "SCAN", "KEYS", "DBSIZE", "SCRIPT", "WAIT", "CLIENT", "CONFIG",
        "EVALSHA_RO", "EVAL_RO", "MEMORY", "SUBSCRIBE", "PUBLISH", "MULTI", "EXEC",
    ]

    /// True if `command` (its arguments, name first) may write.
    static func writes(_ command: [[UInt8]]) -> Bool {
        guard let name = command.first else { return false }
        return !readOnlyCommands.contains(String(decoding: name, as: UTF8.self).uppercased())
    }

    /// The error a reply stands for when it means the write must not count: the server is no
    /// longer the master (`READONLY`, after a failover) or refused for lack of replicas.
    static func durabilityFailure(_ reply: RedisReply) -> RedisError? {
        guard case .error(let message) = reply else { return nil }
        if message.hasPrefix("READONLY") { return .connectionLost("the server is no longer the master (\(message))") }
        if message.hasPrefix("NOREPLICAS") { return .notReplicated(message) }
        return nil
    }
}
