import ExchangeAccess
import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
@testable import ExchangeGateway
import ExchangePostgres
import ExchangeRedis
import ExchangeReplication
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// The gateway's doors, through Hummingbird's router tester against the real Redis and
/// PostgreSQL `scripts/test` starts: every refusal a client can provoke gets the contract's
/// status and `{"code","msg"}`, and leaves nothing behind. (Orders that reach the shards, with
/// real clients, are `Tests/clients`.) Serialized: they share one Redis and one database.
@Suite(.serialized, .enabled(
    if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil && ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"] != nil,
    "set EXCHANGE_TEST_REDIS_URL and EXCHANGE_TEST_POSTGRES_URL (scripts/test does)"))
struct GatewayTests {
    static let tokenKey = Array(repeating: UInt8(9), count: 32)

    struct Trader {
        var userID: UInt64
        var apiKey: String
        var secret: String
        var accessToken: String
        var refreshToken: String
    }

    /// A fresh cluster view (map, BTCUSDT) and database, a gateway on them, and `body` with a
    /// router test client.
    static func withGateway(
        configure: (inout GatewayConfiguration) -> Void = { _ in }, _ body: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void
    ) async throws {
        let environment = ProcessInfo.processInfo.environment
        let redis = try RedisClient(url: environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        try await ClusterMapStore(client: redis).replace(with: try ClusterMap(shardCount: 2, partitionCount: 2))
        let admin = ClearingAdmin(client: redis)
        try await admin.addAsset(try AssetSpec(code: AssetCode("BTC")!, scale: 8))
        try await admin.addAsset(try AssetSpec(code: AssetCode("USDT")!, scale: 6))
        _ = try await admin.addSymbol(
            try SymbolSpec(name: "BTCUSDT", tickSize: DecimalNumber(parsing: "0.01"), stepSize: DecimalNumber(parsing: "0.0001"),
                           minimumNotional: DecimalNumber(parsing: "5")),
            base: AssetCode("BTC")!, quote: AssetCode("USDT")!, makerFeeBasisPoints: 10, takerFeeBasisPoints: 20)
        let postgres = try PostgresSettings(url: environment["EXCHANGE_TEST_POSTGRES_URL"]!).client()
        let running = Task { await postgres.run() }
        defer { running.cancel() }
        for schema in ["exchange_user", "exchange_order", "exchange_clearing", "exchange_wallet", "exchange_admin"] {
            try await postgres.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        }
        try await Migrations.migrate(postgres)
        var configuration = GatewayConfiguration(masterKey: Array(repeating: 7, count: 32), tokenKey: tokenKey)
        configuration.bcryptCost = 4
        configure(&configuration)
        let gateway = try await Gateway.start(
            configuration: configuration, redis: redis, postgres: postgres, logger: Logger(label: "test"))
        defer { gateway.shutdown() }
        let application = Application(router: gateway.router())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await gateway.runBackground() }
            try await application.test(.router) { client in try await body(client, postgres) }
            group.cancelAll()
        }
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    static func post(_ client: any TestClientProtocol, _ path: String, _ body: String, token: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func newTrader(_ client: any TestClientProtocol, email: String = "alice@example.com", permissions: String = #"["trade"]"#,
                          whitelist: String = "[]") async throws -> Trader {
        let registered = try await post(client, "/api/v1/users", #"{"email":"\#(email)","password":"correct horse 1"}"#)
        #expect(registered.status == .created)
        let session = try json(try await post(client, "/api/v1/sessions", #"{"email":"\#(email)","password":"correct horse 1"}"#))
        let token = try #require(session["accessToken"] as? String)
        let key = try json(try await post(
            client, "/api/v1/me/api-keys", #"{"label":"t","permissions":\#(permissions),"ipWhitelist":\#(whitelist)}"#, token: token))
        return Trader(
            userID: try #require((session["userId"] as? NSNumber)?.uint64Value), apiKey: try #require(key["apiKey"] as? String),
            secret: try #require(key["secretKey"] as? String), accessToken: token, refreshToken: try #require(session["refreshToken"] as? String))
    }

    /// A signed request: `query` and `body` as given (raw), signed over both, signature in the
    /// query unless `signatureInBody`.
    static func signed(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, trader: Trader, query: String = "", body: String = "",
        timestamp: Int64 = Int64(Date().timeIntervalSince1970 * 1_000), signatureInBody: Bool = false, uppercase: Bool = false
    ) async throws -> TestResponse {
        let fullQuery = query.isEmpty ? "timestamp=\(timestamp)" : "\(query)&timestamp=\(timestamp)"
        var signature = RequestSignature.sign(Array((fullQuery + body).utf8), secret: Array(trader.secret.utf8))
        if uppercase { signature = signature.uppercased() }
        let (finalQuery, finalBody) = signatureInBody
            ? (fullQuery, body + "&signature=\(signature)") : ("\(fullQuery)&signature=\(signature)", body)
        var headers: HTTPFields = [HTTPField.Name("X-MBX-APIKEY")!: trader.apiKey]
        if !finalBody.isEmpty { headers[.contentType] = "application/x-www-form-urlencoded" }
        return try await client.execute(uri: "\(path)?\(finalQuery)", method: method, headers: headers,
                                        body: finalBody.isEmpty ? nil : ByteBuffer(string: finalBody))
    }

    static func code(_ response: TestResponse) throws -> Int? { (try json(response)["code"] as? NSNumber)?.intValue }

    @Test("signatures over query, body, both, percent-encoded, in either case of hex; a replay, a wrong secret and a stale time are refused")
    func signing() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            #expect(try await Self.signed(client, .get, "/api/v3/account", trader: trader).status == .ok)
            #expect(try await Self.signed(client, .get, "/api/v3/account", trader: trader, query: "recvWindow=10000", uppercase: true).status == .ok)
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK&newClientOrderId=a%2Fb%3Ac"
            let placed = try await Self.signed(client, .post, "/api/v3/order/test", trader: trader, body: "&" + order, signatureInBody: true)
            #expect(placed.status == .ok, "\(String(buffer: placed.body))")
            let inQuery = try await Self.signed(client, .post, "/api/v3/order/test", trader: trader, query: "symbol=BTCUSDT&side=BUY",
                                                body: "type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000")
            #expect(inQuery.status == .ok, "\(String(buffer: inQuery.body))")
            // The same signed bytes again.
            let timestamp = Int64(Date().timeIntervalSince1970 * 1_000)
            #expect(try await Self.signed(client, .get, "/api/v3/account", trader: trader, timestamp: timestamp).status == .ok)
            let replay = try await Self.signed(client, .get, "/api/v3/account", trader: trader, timestamp: timestamp)
            #expect(try replay.status == .badRequest && Self.code(replay) == -1022)
            var forged = trader
            forged.secret = String(repeating: "0", count: 64)
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: forged)) == -1022)
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: trader, timestamp: timestamp - 10_000)) == -1021)
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: trader, timestamp: timestamp + 5_000)) == -1021)
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: trader, query: "recvWindow=70000")) == -1131)
            let unsigned = try await client.execute(uri: "/api/v3/account?timestamp=\(timestamp)", method: .get,
                                                    headers: [HTTPField.Name("X-MBX-APIKEY")!: trader.apiKey])
            #expect(try Self.code(unsigned) == -1102)
            let noKey = try await client.execute(uri: "/api/v3/account?timestamp=\(timestamp)", method: .get)
            #expect(try noKey.status == .unauthorized && Self.code(noKey) == -1002)
            let badKey = try await client.execute(uri: "/api/v3/account", method: .get, headers: [HTTPField.Name("X-MBX-APIKEY")!: "short"])
            #expect(try badKey.status == .unauthorized && Self.code(badKey) == -2014)
        }
    }

    @Test("permissions, IP whitelists, disabled and deleted keys")
    func keys() async throws {
        try await Self.withGateway { client, postgres in
            let reader = try await Self.newTrader(client, permissions: #"["read"]"#)
            #expect(try await Self.signed(client, .get, "/api/v3/account", trader: reader).status == .ok)
            let refused = try await Self.signed(client, .post, "/api/v3/order/test", trader: reader,
                                                query: "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000")
            #expect(try refused.status == .unauthorized && Self.code(refused) == -2015)
            // Router tests have no peer address: a whitelist lets nothing in.
            let listed = try await Self.newTrader(client, email: "bob@example.com", whitelist: #"["10.1.2.3"]"#)
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: listed)) == -2015)
            let disabled = try await client.execute(
                uri: "/api/v1/me/api-keys/\(reader.apiKey)", method: .put,
                headers: [.authorization: "Bearer \(reader.accessToken)", .contentType: "application/json"], body: ByteBuffer(string: #"{"enabled":false}"#))
            #expect(disabled.status == .ok)
            try await Task.sleep(for: .milliseconds(2_100))  // the key cache's lifetime
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: reader)) == -2015)
            let nul = try await Self.post(client, "/api/v1/me/api-keys", #"{"label":"a\u0000b"}"#, token: reader.accessToken)
            #expect(try nul.status == .badRequest && Self.code(nul) == -3001)
            let other = try await client.execute(uri: "/api/v1/me/api-keys/\(reader.apiKey)", method: .delete,
                                                 headers: [.authorization: "Bearer \(listed.accessToken)"])
            #expect(other.status == .notFound)
            // Secrets are sealed: nothing in the table holds one in clear.
            let rows = try await postgres.query("SELECT api_key, sealed_secret::text, label FROM exchange_user.api_keys")
            for try await (key, sealed, label) in rows.decode((String, String, String).self) {
                #expect(!sealed.contains(reader.secret) && !sealed.contains(Data(reader.secret.utf8).map { String(format: "%02x", $0) }.joined()))
                #expect(!label.contains(reader.secret) && key != reader.secret)
            }
        }
    }

    @Test("sessions: expired and forged tokens, logout revokes, refresh tokens rotate, repeated failures lock the account")
    func sessions() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            #expect(try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(trader.accessToken)"]).status == .ok)
            let now = Int64(Date().timeIntervalSince1970)
            let expired = AccessTokenSigner(secret: Self.tokenKey).sign(.init(userID: trader.userID, issuedAtSeconds: now - 100, expiresAtSeconds: now - 1, tokenID: "x"))
            #expect(try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(expired)"]).status == .unauthorized)
            let forged = AccessTokenSigner(secret: Array(repeating: 1, count: 32)).sign(.init(userID: trader.userID, issuedAtSeconds: now, expiresAtSeconds: now + 60, tokenID: "y"))
            #expect(try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(forged)"]).status == .unauthorized)
            let refreshed = try Self.json(try await Self.post(client, "/api/v1/sessions/refresh", #"{"refreshToken":"\#(trader.refreshToken)"}"#))
            let newAccess = try #require(refreshed["accessToken"] as? String)
            let again = try await Self.post(client, "/api/v1/sessions/refresh", #"{"refreshToken":"\#(trader.refreshToken)"}"#)
            #expect(try again.status == .unauthorized && Self.code(again) == -3006)
            #expect(try await Self.post(client, "/api/v1/sessions/logout", "{}", token: newAccess).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(newAccess)"]).status == .unauthorized)
            for _ in 0..<5 {
                let wrong = try await Self.post(client, "/api/v1/sessions", #"{"email":"alice@example.com","password":"wrong horse 12"}"#)
                #expect(wrong.status == .unauthorized)
            }
            let locked = try await Self.post(client, "/api/v1/sessions", #"{"email":"alice@example.com","password":"correct horse 1"}"#)
            #expect(try locked.status == .forbidden && Self.code(locked) == -3004)
            let history = try await client.execute(uri: "/api/v1/me/logins", method: .get, headers: [.authorization: "Bearer \(trader.accessToken)"])
            let records = try #require(JSONSerialization.jsonObject(with: Data(String(buffer: history.body).utf8)) as? [[String: Any]])
            #expect(records.count == 7 && records.filter { ($0["success"] as? Bool) == false }.count == 6)
            // Registration refuses bad input without creating anything.
            #expect(try Self.code(try await Self.post(client, "/api/v1/users", #"{"email":"nope","password":"correct horse 1"}"#)) == -3001)
            #expect(try Self.code(try await Self.post(client, "/api/v1/users", #"{"email":"c@d.ef","password":"short1"}"#)) == -3001)
            #expect(try Self.code(try await Self.post(client, "/api/v1/users", #"not json"#)) == -3001)
            #expect(try Self.code(try await Self.post(client, "/api/v1/users", #"{"email":"ALICE@example.com ","password":"correct horse 1"}"#)) == -3002)
        }
    }

    @Test("bad order input gets the contract's codes; a repeated client order id returns the first order once clearing has it, -1007 before")
    func orderInput() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            let cases: [(String, Int)] = [
                ("symbol=NOPE&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=10", -1121),
                ("symbol=BTCUSDT&side=UP&type=LIMIT&timeInForce=GTC&quantity=1&price=10", -1117),
                ("symbol=BTCUSDT&side=BUY&type=STOP&timeInForce=GTC&quantity=1&price=10", -1116),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=1&price=10", -1115),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=10", -1102),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=10", -1102),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1e-05&price=10", -1100),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=10.001", -1013),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00001&price=10", -1013),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price=10", -1013),
                ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&price=10", -1106),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&timeInForce=GTC&quantity=1&price=10", -1106),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=10&newClientOrderId=has%20space", -1100),
                ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=10&newOrderRespType=MAX", -1100),
            ]
            for (query, expected) in cases {
                let response = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: query)
                #expect(try response.status == .badRequest && Self.code(response) == expected, "\(query): \(String(buffer: response.body))")
            }
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK&newClientOrderId=same-1"
            let first = try Self.json(try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order))
            // No clearing runs here: nothing shows the order is in the log yet.
            let early = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
            #expect(try early.status == .serviceUnavailable && Self.code(early) == -1007)
            // Clearing froze its funds: the projector unmarks it (as here), and the retry gets the first answer.
            let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
            defer { redis.shutdown() }
            let firstID = try #require((first["orderId"] as? NSNumber)?.uint64Value)
            _ = try await redis.send(["HDEL", "gw:o:\(firstID)", "un"])
            let second = try Self.json(try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order))
            #expect((second["orderId"] as? NSNumber)?.uint64Value == firstID)
            // Acknowledged means readable at once.
            let read = try Self.json(try await Self.signed(client, .get, "/api/v3/order", trader: trader, query: "symbol=BTCUSDT&origClientOrderId=same-1"))
            #expect((read["orderId"] as? NSNumber) == (first["orderId"] as? NSNumber) && read["status"] as? String == "NEW")
            let missing = try await Self.signed(client, .get, "/api/v3/order", trader: trader, query: "symbol=BTCUSDT&orderId=42")
            #expect(try Self.code(missing) == -2013)
        }
    }

    @Test("an order whose append's answer is lost: -1007, and so is a retry with its client id until it is settled; found in the log, the retry gets that order, never a second")
    func unknownAppendOutcome() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
            defer { redis.shutdown() }
            // The gateway's producer (worker 0 of a flushed Redis) cannot append: its last tags are not strings.
            let partitions = [ReplicaLogKeys.clearingPartition(0), .clearingPartition(1)]
            for keys in partitions { _ = try await redis.send(["HSET", keys.lastTag(producer: "gw-0"), "not", "a string"]) }
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK&newClientOrderId=lost-1"
            let first = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
            #expect(try first.status == .serviceUnavailable && Self.code(first) == -1007, "\(String(buffer: first.body))")
            let retried = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
            #expect(try retried.status == .serviceUnavailable && Self.code(retried) == -1007, "\(String(buffer: retried.body))")
            // The last attempt did land after all (its answer lost): the entry is in the log before the fence can go up.
            let deadline = ContinuousClock.now + .seconds(10)
            while try await redis.send(["HLEN", "gw:unsettled"]).integer != 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let fields = try await redis.send(["HGETALL", "gw:unsettled"]).array?.compactMap(\.string) ?? []
            let unsettled = try #require(fields.count == 2 ? try JSONSerialization.jsonObject(with: Data(fields[1].utf8)) as? [String: Any] : nil)
            let partition = try #require((unsettled["partition"] as? NSNumber)?.uint32Value)
            let tag = try #require((unsettled["tag"] as? NSNumber)?.uint64Value)
            let payloadText = try #require(unsettled["payload"] as? String)
            let payload = try #require(Data(base64Encoded: payloadText))
            let keys = ReplicaLogKeys.clearingPartition(PartitionID(partition))
            // In one script, as the append script writes it, so the settler's fence cannot come between.
            let landed = try await redis.pipeline(bytes: [[
                "EVAL", """
                    redis.call('DEL', KEYS[4])
                    local position = redis.call('INCR', KEYS[2])
                    local t = redis.call('TIME')
                    redis.call('XADD', KEYS[1], position .. '-1', 'd', ARGV[1], 't', tostring(t[1]) .. string.format('%06d', tonumber(t[2])), 'g', ARGV[2])
                    return redis.call('SET', KEYS[3], ARGV[2])
                    """,
                "4", keys.input, keys.sequence, keys.lastTag(producer: "gw-0"), partitions[1 - Int(partition)].lastTag(producer: "gw-0"),
            ].map { Array($0.utf8) } + [Array(payload), Array(String(tag).utf8)]])
            #expect(landed.first?.string == "OK", "the entry went in: \(landed)")
            // Settled as landed: the retry gets that order, not a second one.
            var answered: [String: Any] = [:]
            for _ in 0..<100 where answered["orderId"] == nil {
                try await Task.sleep(for: .milliseconds(50))
                let response = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
                if response.status == .ok { answered = try Self.json(response) } else { #expect(try Self.code(response) == -1007) }
            }
            #expect(answered["clientOrderId"] as? String == "lost-1")
            #expect(try await redis.send(["HLEN", "gw:unsettled"]).integer == 0)
            let inputs = try await redis.xrange(keys.input, after: StreamID(milliseconds: 0, sequence: 0), count: 100)
            let placed = try inputs.flatMap { try ClearingLogCodec.decodeInput(try #require($0.value("d"))).commands }.compactMap { command -> OrderID? in
                if case .place(let order) = command { return order.orderID }
                return nil
            }
            #expect(placed == [(answered["orderId"] as? NSNumber)?.uint64Value], "the order once in the log, and it is the one answered")
        }
    }

    @Test("an order another instance admitted and abandoned (it stopped before appending it) is forgotten by a scan; a retry with its client order id then places anew, once")
    func abandonedOrder() async throws {
        try await Self.withGateway(configure: { $0.abandonedOrderScanInterval = .milliseconds(200) }) { client, _ in
            let trader = try await Self.newTrader(client)
            let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
            defer { redis.shutdown() }
            // An instance holding worker id 9 admitted this order (the real admission script), then
            // stopped before appending it; its lease lapsed.
            _ = try await redis.send(["SET", GatewayKeys.worker(9), "instance 9"])
            var ids = SnowflakeGenerator(worker: 9)
            let now = WallClock.milliseconds()
            let abandonedID = ids.next(nowMilliseconds: UInt64(now))
            var record = OrderRecord(
                orderID: abandonedID, userID: trader.userID, symbol: "BTCUSDT", side: "BUY", type: "LIMIT", timeInForce: "GTC", priceTicks: 100_000,
                quantityLots: 100, quoteOrderUnits: 0, clientOrderID: "abandoned-1", selfTradePrevention: "NONE", timeMilliseconds: now, status: "NEW",
                executedLots: 0, cumulativeQuoteUnits: 0, updateTimeMilliseconds: now)
            record.isUnsettled = true
            let admission = try await RateLimiter(client: redis, policy: RateLimitPolicy()).admit(
                ip: "10.0.0.9", weight: 1, orderOf: trader.userID, nowMilliseconds: now, signature: "abandoned", signatureLifetimeMilliseconds: 60_000,
                claim: .init(record: record, shard: 0, leaseToken: "instance 9"))
            #expect(admission.claimedBy == nil)
            _ = try await redis.send(["DEL", GatewayKeys.worker(9)])
            #expect(try await redis.send(["SISMEMBER", GatewayKeys.unsettledOrders(ofWorker: 9), String(abandonedID)]).integer == 1)
            // A claim under a lease the instance no longer holds writes nothing.
            var late = record
            late.orderID = ids.next(nowMilliseconds: UInt64(now))
            late.clientOrderID = "late-1"
            await #expect(throws: RateLimiter.AdmissionRefusal.notLeaseHolder) {
                _ = try await RateLimiter(client: redis, policy: RateLimitPolicy()).admit(
                    ip: "10.0.0.9", weight: 1, orderOf: trader.userID, nowMilliseconds: now, signature: "late", signatureLifetimeMilliseconds: 60_000,
                    claim: .init(record: late, shard: 0, leaseToken: "instance 8"))
            }
            #expect(try await redis.send(["EXISTS", GatewayKeys.order(late.orderID)]).integer == 0)
            #expect(try await redis.send(["HEXISTS", GatewayKeys.clientOrderIDs(trader.userID), "late-1"]).integer == 0)
            // Clearing (not running here) answers every input its partitions hold (the listings),
            // with nothing to say; the gateway's projector applies the answers.
            for partition: PartitionID in [0, 1] {
                let store = ReplicaLogStore(keys: .clearingPartition(partition), client: redis)
                _ = try await redis.send(["SET", store.keys.epoch, "1"])
                let length = try await store.inputLength()
                try await store.appendOutputs(
                    (1...length).map { EmittedOutput(position: $0, payload: ClearingLogCodec.encode([ClearingEvent]())) }, epoch: 1)
            }
            // Retried until answered: -1007 while the order is unsettled (two scans 200 ms apart,
            // then the projection's pass), then a new order.
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK&newClientOrderId=abandoned-1"
            var answered: [String: Any] = [:]
            for _ in 0..<200 where answered["orderId"] == nil {
                try await Task.sleep(for: .milliseconds(50))
                let response = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
                if response.status == .ok { answered = try Self.json(response) } else { #expect(try Self.code(response) == -1007) }
            }
            let placedID = try #require((answered["orderId"] as? NSNumber)?.uint64Value)
            #expect(placedID != abandonedID)
            #expect(try await redis.send(["EXISTS", GatewayKeys.order(abandonedID)]).integer == 0)
            #expect(try await redis.send(["EXISTS", GatewayKeys.unsettledOrders(ofWorker: 9)]).integer == 0)
            let open = try await Self.signed(client, .get, "/api/v3/openOrders", trader: trader, query: "symbol=BTCUSDT")
            #expect(try (JSONSerialization.jsonObject(with: Data(String(buffer: open.body).utf8)) as? [[String: Any]])?.compactMap { ($0["orderId"] as? NSNumber)?.uint64Value } == [placedID])
            var placed: [OrderID] = []
            for partition: PartitionID in [0, 1] {
                let inputs = try await redis.xrange(ReplicaLogKeys.clearingPartition(partition).input, after: StreamID(milliseconds: 0, sequence: 0), count: 100)
                placed += try inputs.flatMap { try ClearingLogCodec.decodeInput(try #require($0.value("d"))).commands }.compactMap { command -> OrderID? in
                    if case .place(let order) = command { return order.orderID }
                    return nil
                }
            }
            #expect(placed == [placedID], "placed once, and never the abandoned one")
        }
    }

    @Test("an order sent after the instance lost its worker id to another is refused with -1001 (retry safely) and leaves nothing")
    func orderAfterTheLeaseWasLost() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
            defer { redis.shutdown() }
            let logs = [ReplicaLogKeys.clearingPartition(0).input, ReplicaLogKeys.clearingPartition(1).input]
            let lengths = try await redis.pipeline(logs.map { ["XLEN", $0] }).map(\.integer)
            _ = try await redis.send(["SET", GatewayKeys.worker(0), "another instance", "PX", "60000"])
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK&newClientOrderId=cut-off-1"
            let refused = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order)
            #expect(try refused.status == .serviceUnavailable && Self.code(refused) == -1001, "\(String(buffer: refused.body))")
            #expect(try await redis.send(["HEXISTS", GatewayKeys.clientOrderIDs(trader.userID), "cut-off-1"]).integer == 0)
            #expect(try await redis.send(["EXISTS", GatewayKeys.unsettledOrders(ofWorker: 0)]).integer == 0)
            #expect(try await redis.pipeline(logs.map { ["XLEN", $0] }).map(\.integer) == lengths, "nothing appended")
            _ = try await redis.send(["DEL", GatewayKeys.worker(0)])
        }
    }

    @Test("a gateway whose background work stops gives its worker id back, so the next instance takes it at once")
    func workerIDGivenBack() async throws {
        try await Self.withGateway { _, _ in
            let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
            defer { redis.shutdown() }
            #expect(try await redis.send(["EXISTS", GatewayKeys.worker(0)]).integer == 1)
        }
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        #expect(try await redis.send(["EXISTS", GatewayKeys.worker(0)]).integer == 0)
    }

    @Test("request shape: unknown endpoint, JSON body, oversized body, too many parameters, wrong method")
    func requestShape() async throws {
        try await Self.withGateway { client, _ in
            let trader = try await Self.newTrader(client)
            let unknown = try await client.execute(uri: "/api/v3/nothing", method: .get)
            #expect(try unknown.status == .notFound && Self.code(unknown) == -1000)
            let json = try await client.execute(uri: "/api/v3/order?timestamp=1", method: .post,
                                                headers: [HTTPField.Name("X-MBX-APIKEY")!: trader.apiKey, .contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"symbol":"BTCUSDT"}"#))
            #expect(try json.status == .badRequest && Self.code(json) == -1130)
            let big = try await client.execute(uri: "/api/v3/order", method: .post,
                                               headers: [HTTPField.Name("X-MBX-APIKEY")!: trader.apiKey, .contentType: "application/x-www-form-urlencoded"],
                                               body: ByteBuffer(string: "a=" + String(repeating: "x", count: 70_000)))
            #expect(try big.status == .contentTooLarge && Self.code(big) == -1000)
            let many = (0..<70).map { "p\($0)=1" }.joined(separator: "&")
            #expect(try Self.code(try await Self.signed(client, .get, "/api/v3/account", trader: trader, query: many)) == -1101)
            let method = try await client.execute(uri: "/api/v3/exchangeInfo", method: .post)
            #expect((400..<500).contains(method.status.code))
            let info = try Self.json(try await client.execute(uri: #"/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22%5D"#, method: .get))
            #expect((info["symbols"] as? [[String: Any]])?.first?["symbol"] as? String == "BTCUSDT")
            #expect(try Self.code(try await client.execute(uri: "/api/v3/exchangeInfo?symbol=NOPE", method: .get)) == -1121)
        }
    }

    @Test("rate limits: 429 with Retry-After and usage headers past the weight, 418 after repeated violations")
    func rateLimits() async throws {
        try await Self.withGateway(configure: {
            $0.rateLimits = RateLimitPolicy(requestWeightPerMinute: 60, ordersPer10Seconds: 2, ordersPerDay: 100, violationsBeforeBan: 3, banSeconds: 60)
        }) { client, _ in
            let trader = try await Self.newTrader(client)
            let first = try await Self.signed(client, .get, "/api/v3/account", trader: trader)
            #expect(first.headers[HTTPField.Name("X-MBX-USED-WEIGHT-1M")!] != nil)
            // Each request signs different bytes (recvWindow), or two in one millisecond would be replays.
            let order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1000&newOrderRespType=ACK"
            for attempt in 0..<2 {
                #expect(try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order + "&recvWindow=\(5_000 + attempt)").status == .ok)
            }
            let tooMany = try await Self.signed(client, .post, "/api/v3/order", trader: trader, query: order + "&recvWindow=5002")
            #expect(try tooMany.status == .tooManyRequests && Self.code(tooMany) == -1015 && tooMany.headers[.retryAfter] != nil)
            var statuses: [Int] = []
            for attempt in 0..<4 {
                statuses.append(try await Self.signed(client, .get, "/api/v3/account", trader: trader, query: "recvWindow=\(6_000 + attempt)").status.code)
            }
            #expect(statuses.contains(429) && statuses.last == 418, "\(statuses)")
        }
    }

    @Test("CORS: a configured origin is allowed, preflight included; another origin gets no allow header")
    func cors() async throws {
        try await Self.withGateway(configure: { $0.corsOrigins = ["https://app.example"] }) { client, _ in
            let preflight = try await client.execute(uri: "/api/v3/account", method: .options, headers: [
                .origin: "https://app.example", .accessControlRequestMethod: "GET", .accessControlRequestHeaders: "x-mbx-apikey",
            ])
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example")
            #expect(preflight.headers[.accessControlAllowHeaders]?.lowercased().contains("x-mbx-apikey") == true)
            let allowed = try await client.execute(uri: "/api/v3/time", method: .get, headers: [.origin: "https://app.example"])
            #expect(allowed.status == .ok && allowed.headers[.accessControlAllowOrigin] == "https://app.example")
            let other = try await client.execute(uri: "/api/v3/time", method: .get, headers: [.origin: "https://evil.example"])
            #expect(other.status == .ok && other.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
