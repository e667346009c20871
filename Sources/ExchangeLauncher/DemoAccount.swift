import AsyncHTTPClient
import ExchangeRedis
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOSSL

/// What a newcomer trades with right after `exchange up`: BTCUSDT and ETHUSDT listed, and a
/// user funded with 10 BTC, 100 ETH and 100,000 USDT whose API key may trade. Made once
/// through the same calls an operator would use (the gateway's native API, `exchange ctl`);
/// kept in `demo-account.json` (mode 600) and reused by later runs.
public enum DemoAccount {
    public struct Credentials: Codable, Sendable {
        public var email: String
        public var password: String
        public var userId: UInt64
        public var apiKey: String
        public var secretKey: String
    }

    /// The demo markets: assets with their scales, symbols with their filters and fees.
    static let assets = [("BTC", 8), ("ETH", 8), ("USDT", 6)]
    static let symbols = ["BTCUSDT": "BTC", "ETHUSDT": "ETH"]
    static let deposits = [("BTC", "10"), ("ETH", "100"), ("USDT", "100000")]

    /// Lists the demo markets unless BTCUSDT is listed already.
    /// `redis` is the URL tools are given, `endpoint` how `up` itself logs in.
    static func listMarkets(redis: String, endpoint: RedisEndpoint, supervisor: RoleSupervisor) async throws {
        let client = RedisClient(configuration: .init(endpoint: endpoint))
        defer { client.shutdown() }
        if case .bulk = try await client.send(["HGET", "cluster:listings", "BTCUSDT"]) { return }
        for (asset, scale) in assets {
            try await supervisor.tool(["ctl", "asset", "add", asset, "--scale", "\(scale)", "--redis", redis])
        }
        for (symbol, base) in symbols.sorted(by: { $0.key < $1.key }) {
            try await supervisor.tool([
                "ctl", "symbol", "add", symbol, "--base", base, "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                "--min-notional", "5", "--maker-fee-bps", "10", "--taker-fee-bps", "20", "--redis", redis,
            ])
        }
    }

    /// The demo user's credentials from `file`, or a new funded user written there.
    static func ensure(file: String, gateway: String, redis: String, supervisor: RoleSupervisor) async throws -> Credentials {
        if let data = FileManager.default.contents(atPath: file), let stored = try? JSONDecoder().decode(Credentials.self, from: data) {
            return stored
        }
        // `up` talks to its own child over loopback: with TLS on, the certificate names the
        // public host, so it is not verified here (clients verify it).
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let created: Result<Credentials, any Error>
        do {
            created = .success(try await create(file: file, gateway: gateway, redis: redis, supervisor: supervisor, http: http))
        } catch {
            created = .failure(error)
        }
        try await http.shutdown()
        return try created.get()
    }

    /// Signs the demo user up, makes its key, funds it and writes `file`.
    private static func create(file: String, gateway: String, redis: String, supervisor: RoleSupervisor, http: HTTPClient) async throws -> Credentials {
        var generator = SystemRandomNumberGenerator()
        let password = "demo-" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let email = "demo@openexchange.local"
        let login = ["email": email, "password": password]
        let user = try await post(gateway + "/api/v1/users", login, using: http)
        let session = try await post(gateway + "/api/v1/sessions", login, using: http)
        guard let userId = (user["userId"] as? NSNumber)?.uint64Value, let token = session["accessToken"] as? String else {
            throw LaunchError("the gateway's answers to the demo sign-up lack userId or accessToken")
        }
        let key = try await post(gateway + "/api/v1/me/api-keys", ["label": "demo", "permissions": ["trade"]], bearer: token, using: http)
        guard let apiKey = key["apiKey"] as? String, let secretKey = key["secretKey"] as? String else {
            throw LaunchError("the gateway's answer to the demo key lacks apiKey or secretKey")
        }
        for (asset, amount) in deposits {
            try await supervisor.tool(["ctl", "deposit", "\(userId)", asset, amount, "--redis", redis])
        }
        let credentials = Credentials(email: email, password: password, userId: userId, apiKey: apiKey, secretKey: secretKey)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard FileManager.default.createFile(atPath: file, contents: try encoder.encode(credentials), attributes: [.posixPermissions: 0o600]) else {
            throw LaunchError("cannot write \(file)")
        }
        return credentials
    }

    /// POSTs `body` as JSON; the answer's JSON object, or an error naming the endpoint and its answer.
    private static func post(_ url: String, _ body: [String: Any], bearer: String? = nil, using http: HTTPClient) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let text = String(buffer: bytes)
        guard (200..<300).contains(response.status.code),
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw LaunchError("POST \(url): \(response.status.code) \(text)")
        }
        return object
    }
}
