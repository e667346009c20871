import ExchangeAccess
import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import Foundation
import Logging
import Testing

@testable import ExchangeGateway

/// A place's admission and append run as one script against the real Redis: the order is in
/// its partition's log exactly when the admission claimed it and wrote its record; a refused
/// one leaves neither; a retried batch whose first attempt got in appends nothing twice and
/// admits nothing twice.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil, "set EXCHANGE_TEST_REDIS_URL (scripts/test does)"))
struct OrderSubmitterTests {
    static let user: UserID = 7
    static let partition: PartitionID = 1

    static func record(_ orderID: OrderID, client: String) -> OrderRecord {
        OrderRecord(
            orderID: orderID, userID: user, symbol: "BTCUSDT", side: "BUY", type: "LIMIT", timeInForce: "GTC", priceTicks: 100_000,
            quantityLots: 100, quoteOrderUnits: 0, clientOrderID: client, selfTradePrevention: "NONE", timeMilliseconds: 1_000,
            status: "NEW", executedLots: 0, cumulativeQuoteUnits: 0, updateTimeMilliseconds: 1_000)
    }

    /// A place of order `orderID` with client id `client`, admitted under `limiter` and signed `signature`.
    static func place(_ orderID: OrderID, client: String, signature: String, limiter: RateLimiter) -> OrderSubmitter.Submission {
        let call = limiter.admissionCall(
            ip: "10.0.0.1", weight: 1, orderOf: user, nowMilliseconds: WallClock.milliseconds(), signature: signature,
            signatureLifetimeMilliseconds: 60_000, claim: .init(record: record(orderID, client: client), shard: 0))
        let order = ClearingOrder(
            orderID: orderID, userID: user, symbol: "BTCUSDT", side: .buy, type: .limit, timeInForce: .goodTillCanceled,
            price: Price(ticks: 100_000), quantity: Quantity(lots: 100))
        return .init(command: .place(order), partition: partition, admission: .init(keys: call.keys, arguments: call.arguments))
    }

    /// A flushed Redis and a running submitter on it, for `body`.
    static func withSubmitter(_ body: (RedisClient, OrderSubmitter) async throws -> Void) async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        let submitter = try await OrderSubmitter.start(client: redis, partitionCount: 2, logger: Logger(label: "test"))
        let running = Task { await submitter.run() }
        defer { running.cancel() }
        try await body(redis, submitter)
    }

    @Test("a place is appended with its record, or refused with neither; cancels need no admission")
    func admittedOrNothing() async throws {
        try await Self.withSubmitter { redis, submitter in
            let limiter = RateLimiter(client: redis, policy: RateLimitPolicy(
                requestWeightPerMinute: 1_000, ordersPer10Seconds: 2, ordersPerDay: 1_000, violationsBeforeBan: 100, banSeconds: 60))
            let log = ReplicaLogKeys.clearingPartition(Self.partition).input
            func logLength() async throws -> Int64 { try await redis.send(["XLEN", log]).integer ?? -1 }

            guard case .appended(let reply?) = try await submitter.submit(Self.place(101, client: "a", signature: "s1", limiter: limiter)) else {
                Issue.record("the first order was not appended")
                return
            }
            #expect(RateLimiter.usage(of: reply)?.ordersThis10Seconds == 1)
            #expect(try await logLength() == 1)
            #expect(try await redis.send(["HGET", GatewayKeys.order(101), "c"]).string == "a", "its record is in the view")

            // The same client id: the first order holds it; nothing is appended or recorded.
            guard case .refused(let duplicate) = try await submitter.submit(Self.place(102, client: "a", signature: "s2", limiter: limiter)) else {
                Issue.record("a repeated client order id was appended")
                return
            }
            #expect(try await limiter.judge(duplicate, ip: "10.0.0.1", isClaim: true, nowMilliseconds: WallClock.milliseconds()).claimedBy == 101)
            // Over the orders per 10 s: refused, nothing written.
            guard case .refused(let limited) = try await submitter.submit(Self.place(103, client: "b", signature: "s3", limiter: limiter)) else {
                Issue.record("an order over the limit was appended")
                return
            }
            await #expect(throws: BinanceError.self) {
                try await limiter.judge(limited, ip: "10.0.0.1", isClaim: true, nowMilliseconds: WallClock.milliseconds())
            }
            // A replayed signature: refused.
            guard case .refused(let replayed) = try await submitter.submit(Self.place(104, client: "c", signature: "s1", limiter: limiter)) else {
                Issue.record("a replayed request was appended")
                return
            }
            #expect(replayed.array?.first?.integer == -1)
            #expect(try await logLength() == 1)
            for refused: OrderID in [102, 103, 104] {
                #expect(try await redis.send(["EXISTS", GatewayKeys.order(refused)]).integer == 0, "no record of refused order \(refused)")
            }
            #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "b"]).string == nil)

            guard case .appended(nil) = try await submitter.submit(.init(command: .cancel(orderID: 101, userID: Self.user), partition: Self.partition)) else {
                Issue.record("a cancel was not appended")
                return
            }
            #expect(try await logLength() == 2)
        }
    }

    @Test("a script that fails part way leaves no claim or record of an order it did not append")
    func failedScriptUndoesItsAdmissions() async throws {
        try await Self.withSubmitter { redis, submitter in
            let limiter = RateLimiter(client: redis, policy: RateLimitPolicy())
            // The user's order index is no sorted set: the admission fails after it claimed the
            // client id and wrote the record (Redis keeps a failed script's earlier writes).
            _ = try await redis.send(["SET", GatewayKeys.userOrders(Self.user), "not a sorted set"])
            await #expect(throws: RedisError.self) {
                try await submitter.submit(Self.place(301, client: "f", signature: "failing", limiter: limiter))
            }
            #expect(try await redis.send(["XLEN", ReplicaLogKeys.clearingPartition(Self.partition).input]).integer == 0)
            #expect(try await redis.send(["HGET", GatewayKeys.clientOrderIDs(Self.user), "f"]).string == nil, "the claim is undone")
            #expect(try await redis.send(["EXISTS", GatewayKeys.order(301)]).integer == 0, "the record is undone")
        }
    }

    @Test("a retried entry whose first attempt got in appends and admits nothing again, and says which commands are in it")
    func retriedEntry() async throws {
        let redis = try RedisClient(url: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"]!)
        defer { redis.shutdown() }
        _ = try await redis.send(["FLUSHALL"])
        let limiter = RateLimiter(client: redis, policy: RateLimitPolicy(
            requestWeightPerMinute: 1_000, ordersPer10Seconds: 100, ordersPerDay: 1_000, violationsBeforeBan: 100, banSeconds: 60))
        // An admitted place, a place whose client id the first holds, a cancel: one entry.
        let submissions = [
            Self.place(201, client: "r", signature: "one", limiter: limiter), Self.place(202, client: "r", signature: "two", limiter: limiter),
            OrderSubmitter.Submission(command: .cancel(orderID: 9, userID: Self.user), partition: Self.partition),
        ]
        let call = OrderSubmitter.placementCall(submissions, traces: .none, partition: Self.partition, position: 5_000, producer: "gw-9")
        let first = try await OrderSubmitter.placementScript.run(on: redis, keys: call.keys, binaryArguments: call.arguments)
        let replies = try #require(first.array)
        #expect(replies.count == 4 && (replies[0].integer ?? 0) > 0, "appended: \(first)")
        #expect(replies[1].array?.count == 5 && replies[1].array?[4].string == "", "the first place claimed")
        #expect(replies[2].array?[4].string == "201", "the second refused: its client id is the first's")
        #expect(replies[3].integer == 1, "the cancel needs no admission")
        let log = ReplicaLogKeys.clearingPartition(Self.partition).input
        let entries = try await redis.xrange(log, after: StreamID(milliseconds: 0, sequence: 0), count: 10)
        #expect(entries.count == 1)
        let payload = try #require(entries.first?.value("d"))
        #expect(try ClearingLogCodec.decodeInput(payload).commands == [submissions[0].command, submissions[2].command], "the entry holds what was admitted")
        let weight = try await redis.send(["GET", try #require(submissions[0].admission).keys[0]]).string
        let again = try await OrderSubmitter.placementScript.run(on: redis, keys: call.keys, binaryArguments: call.arguments)
        #expect(again.array?.compactMap(\.integer) == [0, 1, 0, 1], "already in; which commands are: \(again)")
        #expect(try await redis.send(["XLEN", log]).integer == 1)
        #expect(try await redis.send(["GET", try #require(submissions[0].admission).keys[0]]).string == weight, "the retry counted no weight")
    }

    @Test("concurrent submissions: each is appended exactly once, in increasing positions, whoever flushes")
    func concurrentSubmissions() async throws {
        try await Self.withSubmitter { redis, submitter in
            // Cancels need no admission: 3 waves of 40 at once over both partitions, each wave
            // finding the previous flusher still at work or done.
            var expected: Set<OrderID> = []
            for wave in 0..<3 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<40 {
                        let orderID = OrderID(wave * 100 + index)
                        expected.insert(orderID)
                        group.addTask {
                            let outcome = try await submitter.submit(.init(command: .cancel(orderID: orderID, userID: Self.user), partition: PartitionID(index % 2)))
                            guard case .appended(nil) = outcome else { throw OrderSubmitterError.appendFailed }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var seen: [OrderID] = []
            for partition: PartitionID in [0, 1] {
                let entries = try await redis.xrange(ReplicaLogKeys.clearingPartition(partition).input, after: StreamID(milliseconds: 0, sequence: 0), count: 1_000)
                let inputs = try entries.map { try ClearingLogCodec.decodeInput(try #require($0.value("d"))) }
                #expect(zip(inputs, inputs.dropFirst()).allSatisfy { $0.position < $1.position }, "positions increase in partition \(partition)")
                for input in inputs {
                    for command in input.commands { if case .cancel(let orderID, _) = command { seen.append(orderID) } }
                }
            }
            #expect(seen.count == expected.count && Set(seen) == expected, "each submission once: \(seen.count) of \(expected.count)")
        }
    }
}
