import ExchangeRedis
import ExchangeTesting
import Foundation
import Testing

@Suite struct RedisSentinelEndpointTests {
    @Test("redis+sentinel:// URLs: sentinels (port 26379 by default), the master's name, wait=1 unless given; printed back without the password")
    func sentinelURLs() throws {
        let endpoint = try RedisEndpoint(url: "redis+sentinel://:p%40ss@10.0.0.1,10.0.0.2:26380/exchange")
        #expect(endpoint.sentinel == .init(masterName: "exchange", sentinels: [.init(host: "10.0.0.1", port: 26_379), .init(host: "10.0.0.2", port: 26_380)]))
        #expect(endpoint.password == "p@ss")
        #expect(endpoint.acknowledgingReplicas == 1)
        #expect(endpoint.description == "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2:26380/exchange")
        #expect(try RedisEndpoint(url: endpoint.withoutCredentials.description) == endpoint.withoutCredentials)
        #expect(try RedisEndpoint(url: "redis+sentinel://h/m?wait=2").acknowledgingReplicas == 2)
        #expect(try RedisEndpoint(url: "redis://h:7?wait=1") == RedisEndpoint(host: "h", port: 7, acknowledgingReplicas: 1))
        #expect(try RedisEndpoint(url: "redis://h:7?wait=1").description == "redis://h:7?wait=1")
        for bad in ["redis+sentinel://h", "redis+sentinel://h/", "redis+sentinel://h,/m", "redis+sentinel://h/a/b", "redis://h?wait=x", "redis://h?other=1", "redis://h?wait=99"] {
            #expect(throws: RedisError.invalidURL(bad)) { try RedisEndpoint(url: bad) }
        }
    }
}

/// The client against real servers: `WAIT` on a server without replicas, and a Sentinel failover.
@Suite(.serialized) struct RedisReplicatedWriteTests {
    @Test("wait=1 on a server without replicas: a write fails as not replicated (it is never acknowledged), a read still answers")
    func writesNeedAReplica() async throws {
        guard let url = TestRedis.url else { return }
        var endpoint = try RedisEndpoint(url: url)
        endpoint.acknowledgingReplicas = 1
        let client = RedisClient(configuration: .init(endpoint: endpoint, replicaAcknowledgementTimeout: .milliseconds(50)))
        defer { client.shutdown() }
        let key = "test:wait:\(UUID().uuidString)"
        let refused = await #expect(throws: RedisError.self) { try await client.send(["XADD", key, "*", "f", "v"]) }
        guard case .notReplicated(let reason) = refused else { Issue.record("expected notReplicated, got \(String(describing: refused))"); return }
        #expect(reason.hasPrefix("0 of 1 replicas acknowledged"))
        #expect(try await client.send(["XLEN", key]).integer == 1)
        #expect(RedisError.notReplicated("").isTransient)
        _ = try? await client.pipeline([["DEL", key]])  // refused as not replicated too, but carried out
    }

    @Test("wait=1 on a server without replicas: a lease renewal and an observation are answered by the master alone (a slow replica cannot fail them); acquiring a lease still needs a replica")
    func leaseRenewalsDoNotWaitForReplicas() async throws {
        guard let url = TestRedis.url else { return }
        let plain = try TestRedis.client()
        defer { plain.shutdown() }
        var endpoint = try RedisEndpoint(url: url)
        endpoint.acknowledgingReplicas = 1
        let client = RedisClient(configuration: .init(endpoint: endpoint, replicaAcknowledgementTimeout: .milliseconds(200)))
        defer { client.shutdown() }
        let keys = ReplicaLogKeys(prefix: "\(TestRedis.namespace()){0}")
        let store = ReplicaLogStore(keys: keys, client: client)
        // Acquired through a client that does not wait (this server has no replica to wait for).
        guard case .acquired(let epoch, _) = try await ReplicaLogStore(keys: keys, client: plain).acquireLease(holder: "a", epoch: 0, duration: .seconds(1)) else {
            Issue.record("the free lease was not granted"); return
        }
        #expect(try await store.renewLease(holder: "a", epoch: epoch, duration: .seconds(30)) == (true, "a", epoch))
        #expect(try await plain.send(["PTTL", keys.lease]).integer ?? 0 > 10_000, "renewed on the master")
        let observation = try await store.observe()
        #expect(observation.holder == "a" && observation.epoch == epoch)
        _ = try await plain.send(["DEL", keys.lease])
        let refused = await #expect(throws: RedisError.self) { _ = try await store.acquireLease(holder: "b", epoch: epoch, duration: .seconds(1)) }
        _ = try await plain.send(["DEL", keys.lease, keys.epoch])
        guard case .notReplicated = refused else { Issue.record("expected notReplicated, got \(String(describing: refused))"); return }
    }

    @Test("Sentinel: the master is killed mid-stream; the client follows the failover and every acknowledged append is on the new master")
    func followsFailover() async throws {
        guard TestRedis.url != nil else { return }
        let directory = NSTemporaryDirectory() + "sentinel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let master = try TestRedisServer.freePort()
        let replicas = [try TestRedisServer.freePort(), try TestRedisServer.freePort()]
        let sentinel = try TestRedisServer.freePort()
        defer {
            for port in [master] + replicas { try? TestRedisServer.cli(port, ["shutdown", "nosave"]) }
            try? TestRedisServer.cli(sentinel, ["shutdown", "nosave"])
            try? FileManager.default.removeItem(atPath: directory)
        }
        try await TestRedisServer.start(port: master, directory: directory)
        for port in replicas {
            try await TestRedisServer.start(port: port, directory: directory, arguments: ["--replicaof", "127.0.0.1", "\(master)"])
        }
        let direct = RedisClient(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: master)))
        defer { direct.shutdown() }
        for _ in 0..<200 where try await direct.send(["INFO", "replication"]).string?.contains("connected_slaves:2") != true {
            try await Task.sleep(for: .milliseconds(25))
        }
        try await TestRedisServer.startSentinel(port: sentinel, directory: directory, name: "orders", masterPort: master, downAfter: .milliseconds(400))

        let client = RedisClient(configuration: .init(
            endpoint: try RedisEndpoint(url: "redis+sentinel://127.0.0.1:\(sentinel)/orders"), ioTimeout: .seconds(1),
            maximumReconnectBackoff: .milliseconds(100)))
        defer { client.shutdown() }
        var acknowledged: [String] = []
        var failures = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while acknowledged.count < 200, ContinuousClock.now < deadline {
            if acknowledged.count == 100, failures == 0 { try TestRedisServer.kill(port: master, directory: directory) }
            do {
                let id = try await client.send(["XADD", "orders", "*", "n", "\(acknowledged.count)"])
                acknowledged.append(try #require(id.string))
            } catch let error as RedisError where error.isTransient {
                failures += 1
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(acknowledged.count == 200, "the client never reached the new master")
        #expect(failures > 0, "the kill should have been noticed")

        let promoted = RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: "redis+sentinel://127.0.0.1:\(sentinel)/orders?wait=0")))
        defer { promoted.shutdown() }
        #expect(try await promoted.send(["ROLE"]).array?.first?.string == "master")
        let stored = try await promoted.send(["XRANGE", "orders", "-", "+"]).array ?? []
        let ids = Set(stored.compactMap { $0.array?.first?.string })
        #expect(acknowledged.filter { !ids.contains($0) } == [], "acknowledged appends lost in the failover")
    }
}
