import ExchangeRedis
import ExchangeThreads
import Foundation
import Testing

/// The Redis the tests talk to: `EXCHANGE_TEST_REDIS_URL`, which `scripts/test` (and so CI)
/// always sets after starting a redis-server. A bare `swift test` without it skips these
/// suites; with it, an unreachable server fails them.
enum TestRedis {
    static let url = ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]
    static var isConfigured: Bool { url != nil }

    static func client(ioTimeout: Duration = .seconds(2)) throws -> RedisClient {
        RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: url!), ioTimeout: ioTimeout))
    }

    /// A key prefix no other test uses.
    static func namespace() -> String { "test:\(UUID().uuidString):" }
}

@Suite(.enabled(if: TestRedis.isConfigured, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct RedisClientTests {
    @Test("a password logs every new connection in (AUTH); a wrong one fails to connect and says so, without the password")
    func authentication() async throws {
        let admin = try TestRedis.client()
        defer { admin.shutdown() }
        let user = "exchange-test-\(UUID().uuidString.prefix(8))"
        _ = try await admin.send(["ACL", "SETUSER", user, "on", ">right-password", "~*", "+@all"])
        let base = try RedisEndpoint(url: TestRedis.url!)
        let good = RedisClient(configuration: .init(endpoint: RedisEndpoint(host: base.host, port: base.port, username: user, password: "right-password")))
        defer { good.shutdown() }
        #expect(try await good.send(["ACL", "WHOAMI"]).string == user)
        let bad = RedisClient(configuration: .init(endpoint: RedisEndpoint(host: base.host, port: base.port, username: user, password: "wrong-password")))
        defer { bad.shutdown() }
        do {
            _ = try await bad.send(["PING"])
            Issue.record("a wrong password connected")
        } catch {
            #expect("\(error)".contains("AUTH refused") && !"\(error)".contains("wrong-password"))
        }
        _ = try await admin.send(["ACL", "DELUSER", user])
    }

    @Test("binary values round-trip, and error replies throw")
    func roundTrip() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let key = TestRedis.namespace() + "value"
        let value: [UInt8] = [0, 1, 2, 255, 0x0D, 0x0A, 0]
        let replies = try await client.pipeline(bytes: [[Array("SET".utf8), Array(key.utf8), value], [Array("GET".utf8), Array(key.utf8)]])
        #expect(replies == [.status("OK"), .bulk(value)])
        await #expect(throws: RedisError.self) { try await client.send(["INCR", key]) }
        #expect(try await client.send(["GET", key + "missing"]) == .null)
    }

    @Test("a thousand concurrent callers share pipelines and each gets its own answer")
    func concurrentCallers() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let key = TestRedis.namespace() + "counter"
        let values = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<1_000 {
                group.addTask { try await client.send(["INCR", key]).integer ?? -1 }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(values.sorted() == Array(1...1_000))
    }

    @Test("streams: XADD, XRANGE after an id, XREAD, XTRIM MINID")
    func streams() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let key = TestRedis.namespace() + "stream"
        var ids: [StreamID] = []
        for index in 1...5 {
            ids.append(try await client.xadd(key, id: StreamID(milliseconds: 1, sequence: UInt64(index)), fields: [("n", Array("\(index)".utf8))]))
        }
        #expect(ids.map(\.sequence) == [1, 2, 3, 4, 5])
        let after2 = try await client.xrange(key, after: ids[1], count: 10)
        #expect(after2.map(\.id) == Array(ids[2...]))
        #expect(after2.first?.value("n") == Array("3".utf8))
        let read = try await client.xread([(key, ids[3])], count: 10)
        #expect(read[key]?.map(\.id) == [ids[4]])
        #expect(try await client.xtrim(key, minimumID: ids[2]) == 2)
        #expect(try await client.xrange(key, after: .zero, count: 10).map(\.id) == Array(ids[2...]))
        // An id at or below the last is refused by Redis: the log stays ordered.
        await #expect(throws: RedisError.self) { try await client.xadd(key, id: ids[0], fields: [("n", [])]) }
    }

    @Test("XREAD BLOCK waits for a new entry and times out with nothing")
    func blockingRead() async throws {
        let reader = try TestRedis.client()
        let writer = try TestRedis.client()
        defer { reader.shutdown(); writer.shutdown() }
        let key = TestRedis.namespace() + "blocking"
        let nothing = try await reader.xread([(key, .zero)], count: 1, block: .milliseconds(50))
        #expect(nothing.isEmpty)
        async let waited = reader.xread([(key, .zero)], count: 1, block: .seconds(1))
        try await Task.sleep(for: .milliseconds(100))
        let added = try await writer.xadd(key, fields: [("x", [1])])
        #expect(try await waited[key]?.map(\.id) == [added])
    }

    @Test("a script runs by SHA and is reloaded after SCRIPT FLUSH")
    func scripts() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let script = RedisScript(source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = TestRedis.namespace() + "scripted"
        #expect(try await script.run(on: client, keys: [key], arguments: ["5"]) == .integer(5))
        _ = try await client.send(["SCRIPT", "FLUSH"])
        #expect(try await script.run(on: client, keys: [key], arguments: ["2"]) == .integer(7))
        let failing = RedisScript(source: "return redis.error_reply('FENCED stale epoch')")
        await #expect(throws: RedisError.server("FENCED stale epoch")) { try await failing.run(on: client, keys: [], arguments: []) }
    }

    @Test("several calls of a script share one pipeline after SCRIPT FLUSH, in order; an error reply stays with its call")
    func scriptCalls() async throws {
        let client = try TestRedis.client()
        defer { client.shutdown() }
        let script = RedisScript(source: "if ARGV[1] == 'x' then return redis.error_reply('BAD x') end return redis.call('APPEND', KEYS[1], ARGV[1])")
        let key = TestRedis.namespace() + "appended"
        _ = try await client.send(["SCRIPT", "FLUSH"])
        let replies = try await script.run(on: client, calls: [([key], [Array("a".utf8)]), ([key], [Array("x".utf8)]), ([key], [Array("b".utf8)])])
        #expect(replies == [.integer(1), .error("BAD x"), .integer(2)])
        #expect(try await client.send(["GET", key]) == .bulk(Array("ab".utf8)))
    }

    @Test("a killed connection fails the request in flight, then reconnects")
    func reconnects() async throws {
        let client = try TestRedis.client()
        let admin = try TestRedis.client()
        defer { client.shutdown(); admin.shutdown() }
        let id = try #require(try await client.send(["CLIENT", "ID"]).integer)
        #expect(try await admin.send(["CLIENT", "KILL", "ID", String(id)]) == .integer(1))
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        #expect(try await client.send(["PING"]) == .status("PONG"))
    }

    @Test("shutdown fails later requests with closed")
    func shutdown() async throws {
        let client = try TestRedis.client()
        client.shutdown()
        await #expect(throws: RedisError.closed) { try await client.send(["PING"]) }
    }
}

/// An actor on a connection thread, as a replica's loop is.
private actor LoopOnThread {
    let thread: ConnectionThread
    let client: RedisClient
    nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    init(thread: ConnectionThread, client: RedisClient) {
        self.thread = thread
        self.client = client
    }

    /// Increments `key` `count` times, one request after another; says whether every request
    /// ran on the loop's own thread (no hop).
    func increment(_ key: String, count: Int) async throws -> Bool {
        var stayed = thread.isCurrent
        for _ in 0..<count {
            _ = try await client.send(["INCR", key])
            stayed = stayed && thread.isCurrent
        }
        return stayed
    }
}

@Suite(.enabled(if: TestRedis.isConfigured, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OwnedRedisClientTests {
    func owned(by thread: ConnectionThread) throws -> RedisClient {
        RedisClient(configuration: .init(endpoint: try RedisEndpoint(url: TestRedis.url!)), ownedBy: thread)
    }

    @Test("an actor on the owning thread runs its requests there; callers elsewhere hop there and each gets its answer")
    func ownedRequests() async throws {
        let thread = ConnectionThread(name: "test loop")
        let client = try owned(by: thread)
        defer { client.shutdown() }
        let key = TestRedis.namespace() + "counter"
        #expect(!thread.isCurrent)
        #expect(try await LoopOnThread(thread: thread, client: client).increment(key, count: 50))
        let values = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 {
                group.addTask { try await client.send(["INCR", key]).integer ?? -1 }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(values.sorted() == Array(51...250))
    }

    @Test("an owned connection that was killed fails its request, then reconnects; shutdown refuses later requests")
    func ownedReconnect() async throws {
        let thread = ConnectionThread(name: "test loop")
        let client = try owned(by: thread)
        let admin = try TestRedis.client()
        defer { admin.shutdown() }
        let id = try #require(try await client.send(["CLIENT", "ID"]).integer)
        #expect(try await admin.send(["CLIENT", "KILL", "ID", String(id)]) == .integer(1))
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        #expect(try await client.send(["PING"]) == .status("PONG"))
        client.shutdown()
        await #expect(throws: RedisError.closed) { try await client.send(["PING"]) }
    }
}

@Suite struct RedisEndpointTests {
    @Test("redis:// URLs parse; anything else is refused")
    func urls() throws {
        #expect(try RedisEndpoint(url: "redis://127.0.0.1:6380") == RedisEndpoint(host: "127.0.0.1", port: 6380))
        #expect(try RedisEndpoint(url: "redis://localhost") == RedisEndpoint(host: "localhost", port: 6379))
        #expect(try RedisEndpoint(url: "redis://h:7/0") == RedisEndpoint(host: "h", port: 7))
        for bad in ["http://h", "redis://", "redis://h:0", "redis://h:x", "redis://h:1:2", "redis://:@h", "redis://nocolon@h"] {
            #expect(throws: RedisError.invalidURL(bad)) { try RedisEndpoint(url: bad) }
        }
    }

    @Test("URLs: host and port, a password (percent-decoded) with or without a user, never echoed back")
    func parsing() throws {
        #expect(try RedisEndpoint(url: "redis://10.0.0.5") == RedisEndpoint(host: "10.0.0.5", port: 6379))
        #expect(try RedisEndpoint(url: "redis://h:7000/0") == RedisEndpoint(host: "h", port: 7000))
        #expect(try RedisEndpoint(url: "redis://:p%40ss@h:7000") == RedisEndpoint(host: "h", port: 7000, password: "p@ss"))
        #expect(try RedisEndpoint(url: "redis://ops:secret@h") == RedisEndpoint(host: "h", port: 6379, username: "ops", password: "secret"))
        #expect(try RedisEndpoint(url: "redis://:secret@h:1").description == "redis://:***@h:1")
        do {
            _ = try RedisEndpoint(url: "redis://:secret@h:99999")
        } catch {
            #expect(!"\(error)".contains("secret"))
        }
    }

    @Test("an unreachable server fails fast, then backs off")
    func unreachable() async throws {
        // Port 1 on loopback: nothing listens there.
        let client = RedisClient(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1), ioTimeout: .milliseconds(200)))
        defer { client.shutdown() }
        await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        do {
            _ = try await client.send(["PING"])
            Issue.record("a second request during the backoff succeeded")
        } catch let error as RedisError {
            guard case .connectionFailed = error else { Issue.record("unexpected \(error)"); return }
        }
    }
}

@Suite struct BlockingQueueTests {
    @Test("the consumer takes everything queued in order, waits while empty, and gets nil once closed and drained")
    func handOff() async {
        let queue = BlockingQueue<Int>()
        #expect(queue.push(1) == 1 && queue.push(2, wake: false) == 2)
        #expect(queue.takeAll() == [1, 2])
        // A consumer blocked on an empty queue wakes for the next element.
        let consumer = Task.detached { queue.takeAll() }
        try? await Task.sleep(for: .milliseconds(20))
        queue.push(3)
        #expect(await consumer.value == [3])
        queue.push(4)
        queue.close()
        #expect(queue.push(5) == nil)
        #expect(queue.takeAll() == [4])
        #expect(queue.takeAll() == nil)
    }
}
