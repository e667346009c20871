import AsyncHTTPClient
import ExchangeAccess
import ExchangeBench
import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeRedis
import Foundation
import NIOCore
import NIOHTTP1

/// `exchange bench gateway`: signed order placement over keep-alive HTTP/1.1 connections
/// against a running gateway and cluster, measured from the outside with the same client that
/// first measures the gateway's no-op route (`/api/v3/ping`) as the ceiling of this machine:
///
/// 1. ping, closed loop: requests/s of the no-op route;
/// 2. ACK orders, closed loop: orders/s at full speed (and its ratio to the ping rate);
/// 3. ACK orders, then FULL orders, open loop at half the ACK rate: latency from each
///    request's *scheduled* send time to its answer (so a stall counts for every request it
///    delays), p50/p99/p99.9, and over time;
/// 4. ACK, then FULL orders, open loop at `lightRate`: the floor, what one order costs with
///    nothing queued before it (the round trips and thread hand-offs of its path).
///
/// Orders come in pairs per connection, a GTC sell then an IOC buy at the same price by
/// another user, so every buy trades and the book stays small. Users are registered through
/// `/api/v1` and funded through clearing first. The gateway must run with rate limits above
/// the load (`--weight-per-minute`, `--orders-per10-seconds`).
public struct GatewayBenchmark: Sendable {
    public struct Phase: Sendable {
        public var name: String
        public var requests: Int
        public var errors: Int
        public var seconds: Double
        /// Per request, microseconds.
        public var latenciesMicroseconds: [UInt64]
        /// Per request: (microseconds since the phase started, latency in microseconds).
        public var samples: [LatencyOverTime.Sample]
        public var requestsPerSecond: Double { Double(requests) / seconds }
        /// The first error answer's body, if any.
        public var firstError: String?
    }

    public struct Report: Sendable {
        public var ping: Phase
        public var ackMaximum: Phase
        public var ackHalf: Phase
        public var fullHalf: Phase
        public var ackLight: Phase
        public var fullLight: Phase
        public var ratio: Double { ackMaximum.requestsPerSecond / ping.requestsPerSecond }
    }

    struct Trader: Sendable {
        var userID: UInt64
        var apiKey: String
        var secret: [UInt8]
    }

    public let base: String
    public let redis: RedisClient
    public var connections = 16
    public var phaseDuration = Duration.seconds(10)
    /// Orders per second of the floor phases.
    public var lightRate = 50.0
    public var symbol = "BTCUSDT"

    public init(base: String, redis: RedisClient) {
        self.base = base
        self.redis = redis
    }

    public func run(progress: @Sendable (String) -> Void) async throws -> Report {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let report = try await measure(http, progress: progress)
            try await http.shutdown()
            return report
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func measure(_ http: HTTPClient, progress: @Sendable (String) -> Void) async throws -> Report {
        guard let listing = try await MarketCatalog(client: redis).listing(symbol) else {
            throw GatewayBenchmarkError.unknownSymbol(symbol)
        }
        progress("registering and funding \(connections * 2) traders")
        var traders: [(maker: Trader, taker: Trader)] = []
        for index in 0..<connections {
            traders.append((try await trader(http, "maker-\(index)", listing: listing), try await trader(http, "taker-\(index)", listing: listing)))
        }
        let pairs = traders
        let price = listing.tickSize
        let quantity = listing.stepSize
        // A request per slot k: pings, or a sell (even k) then a buy (odd k) of pair `worker`.
        let pingRequest: @Sendable (Int, Int) -> HTTPClientRequest = { _, _ in HTTPClientRequest(url: "\(base)/api/v3/ping") }
        func orderRequest(_ type: String) -> @Sendable (Int, Int) -> HTTPClientRequest {
            { [base, symbol] worker, slot in
                let pair = pairs[worker]
                let (trader, side, timeInForce) = slot % 2 == 0 ? (pair.maker, "SELL", "GTC") : (pair.taker, "BUY", "IOC")
                let query = "symbol=\(symbol)&side=\(side)&type=LIMIT&timeInForce=\(timeInForce)&quantity=\(quantity)&price=\(price)"
                    + "&newOrderRespType=\(type)&newClientOrderId=b\(worker)-\(slot)-\(UInt32.random(in: 0...UInt32.max))"
                    + "&recvWindow=60000&timestamp=\(WallClock.milliseconds())"
                let signature = RequestSignature.sign(Array(query.utf8), secret: trader.secret)
                var request = HTTPClientRequest(url: "\(base)/api/v3/order?\(query)&signature=\(signature)")
                request.method = .POST
                request.headers.add(name: "X-MBX-APIKEY", value: trader.apiKey)
                return request
            }
        }
        progress("ping, closed loop, \(connections) connections")
        let ping = try await phase("ping (no-op route), closed loop", http, rate: nil, build: pingRequest)
        progress("  \(Int(ping.requestsPerSecond)) requests/s")
        progress("ACK orders, closed loop")
        let ackMaximum = try await phase("ACK orders, closed loop", http, rate: nil, build: orderRequest("ACK"))
        progress("  \(Int(ackMaximum.requestsPerSecond)) orders/s (\(ackMaximum.errors) errors)")
        let half = ackMaximum.requestsPerSecond / 2
        progress("ACK orders at \(Int(half))/s")
        let ackHalf = try await phase("ACK orders at \(Int(half))/s", http, rate: half, build: orderRequest("ACK"))
        progress("FULL orders at \(Int(half))/s")
        let fullHalf = try await phase("FULL orders at \(Int(half))/s", http, rate: half, build: orderRequest("FULL"))
        progress("ACK, then FULL orders at \(Int(lightRate))/s (the floor)")
        let ackLight = try await phase("ACK orders at \(Int(lightRate))/s", http, rate: lightRate, build: orderRequest("ACK"))
        let fullLight = try await phase("FULL orders at \(Int(lightRate))/s", http, rate: lightRate, build: orderRequest("FULL"))
        return Report(ping: ping, ackMaximum: ackMaximum, ackHalf: ackHalf, fullHalf: fullHalf, ackLight: ackLight, fullLight: fullLight)
    }

    /// One phase: `connections` workers, each sending `build(worker, slot)` for slot 0, 1, ...
    /// back to back (closed loop) or on a fixed schedule totalling `rate` requests/s.
    func phase(_ name: String, _ http: HTTPClient, rate: Double?, build: @escaping @Sendable (Int, Int) -> HTTPClientRequest) async throws -> Phase {
        let started = ContinuousClock.now
        let deadline = started + phaseDuration
        let results = try await withThrowingTaskGroup(of: ([UInt64], [LatencyOverTime.Sample], Int, Int, String?).self) { group in
            for worker in 0..<connections {
                group.addTask {
                    var latencies: [UInt64] = []
                    var samples: [LatencyOverTime.Sample] = []
                    var (count, errors, firstError) = (0, 0, String?.none)
                    let interval = rate.map { Duration.seconds(Double(connections) / $0) }
                    var slot = 0
                    while true {
                        let scheduled = interval.map { started + $0 * slot + $0 * (Double(worker) / Double(connections)) } ?? .now
                        if scheduled >= deadline { break }
                        if scheduled > .now { try await Task.sleep(until: scheduled) }
                        let response = try await http.execute(build(worker, slot), timeout: .seconds(30))
                        let body = try await response.body.collect(upTo: 1 << 20)
                        let latency = scheduled.duration(to: .now).wholeMicroseconds
                        latencies.append(UInt64(max(0, latency)))
                        samples.append(.init(appendedAt: UInt64(started.duration(to: scheduled).wholeMicroseconds), latency: UInt64(max(0, latency)), weight: 1))
                        count += 1
                        if response.status != .ok {
                            errors += 1
                            if firstError == nil { firstError = "\(response.status.code) \(String(buffer: body))" }
                        }
                        slot += 1
                    }
                    return (latencies, samples, count, errors, firstError)
                }
            }
            var all: [([UInt64], [LatencyOverTime.Sample], Int, Int, String?)] = []
            for try await result in group { all.append(result) }
            return all
        }
        return Phase(
            name: name, requests: results.map(\.2).reduce(0, +), errors: results.map(\.3).reduce(0, +),
            seconds: started.duration(to: .now).secondsValue, latenciesMicroseconds: results.flatMap(\.0),
            samples: results.flatMap(\.1).sorted { $0.appendedAt < $1.appendedAt }, firstError: results.compactMap(\.4).first)
    }

    /// Registers a user, makes a trading key and funds it generously in both assets.
    func trader(_ http: HTTPClient, _ name: String, listing: MarketListing) async throws -> Trader {
        let email = "bench-\(name)-\(UInt32.random(in: 0...UInt32.max))@bench.local"
        let credentials = #"{"email":"\#(email)","password":"bench password 1"}"#
        let user = try await post(http, "/api/v1/users", credentials)
        let session = try await post(http, "/api/v1/sessions", credentials)
        guard let userID = (user["userId"] as? NSNumber)?.uint64Value, let token = session["accessToken"] as? String else {
            throw GatewayBenchmarkError.setup("\(user) \(session)")
        }
        let key = try await post(http, "/api/v1/me/api-keys", #"{"label":"bench","permissions":["trade"]}"#, token: token)
        guard let apiKey = key["apiKey"] as? String, let secret = key["secretKey"] as? String else { throw GatewayBenchmarkError.setup("\(key)") }
        let admin = ClearingAdmin(client: redis)
        for asset in [listing.baseAsset, listing.quoteAsset] {
            guard let code = AssetCode(asset) else { continue }
            _ = try await admin.deposit(user: userID, asset: code, units: 1 << 55, reference: 0, timeout: .seconds(10))
        }
        return Trader(userID: userID, apiKey: apiKey, secret: Array(secret.utf8))
    }

    func post(_ http: HTTPClient, _ path: String, _ body: String, token: String? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await http.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] else {
            throw GatewayBenchmarkError.setup("\(path): \(String(buffer: bytes))")
        }
        return object
    }
}

public enum GatewayBenchmarkError: Error, CustomStringConvertible {
    case unknownSymbol(String)
    case setup(String)

    public var description: String {
        switch self {
        case .unknownSymbol(let symbol): "\(symbol) is not listed (exchange ctl symbol add)"
        case .setup(let detail): "setting up traders failed: \(detail)"
        }
    }
}
