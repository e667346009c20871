import ExchangeLauncher
import Testing

@Suite("Launch plan")
struct LaunchPlanTests {
    private func plan(_ options: LaunchPlan.Options = .init(), shards: [UInt32] = [0, 1], partitions: Int = 2) throws -> LaunchPlan {
        try LaunchPlan(options: options, shardIDs: shards, partitionCount: partitions, redis: "redis://r", postgres: "postgres://p", dataDirectory: "/d")
    }

    @Test("Every shard and partition gets its replicas, then the recorder, the gateway, the market data and the admin")
    func roles() throws {
        let roles = try plan().roles.map(\.name)
        #expect(roles == [
            "matcher-0-a", "matcher-0-b", "matcher-1-a", "matcher-1-b",
            "clearing-0-a", "clearing-0-b", "clearing-1-a", "clearing-1-b", "recorder", "gateway", "marketdata", "admin",
        ])
        var three = LaunchPlan.Options()
        three.replicas = 3
        #expect(try plan(three, shards: [4], partitions: 1).roles.map(\.name).prefix(4) == ["matcher-4-a", "matcher-4-b", "matcher-4-c", "clearing-0-a"])
    }

    @Test("With a node given, the wallet runs beside the gateway, on the next ops port, stopped first")
    func wallet() throws {
        var options = LaunchPlan.Options()
        options.walletRPC = "http://node:8545"
        let plan = try plan(options)
        let wallet = try #require(plan.roles.last)
        #expect(wallet.name == "wallet" && wallet.tier == 3 && wallet.stopRank == 0)
        #expect(wallet.arguments == ["wallet", "--redis", "redis://r", "--postgres", "postgres://p", "--rpc", "http://node:8545", "--ops-port", "18091"])
        #expect(try self.plan().roles.contains { $0.name == "wallet" } == false)
    }

    @Test("Start back to front along the order path; stop front to back, the recorder last")
    func order() throws {
        let plan = try plan()
        #expect(plan.startGroups.map { $0.map(\.name).first! } == ["matcher-0-a", "clearing-0-a", "recorder", "gateway"])
        #expect(plan.stopGroups.map { Set($0.map(\.name)) } == [
            ["gateway", "marketdata", "admin"], ["clearing-0-a", "clearing-0-b", "clearing-1-a", "clearing-1-b"],
            ["matcher-0-a", "matcher-0-b", "matcher-1-a", "matcher-1-b"], ["recorder"],
        ])
    }

    @Test("Each role gets its own ops port, data directory and the cluster's URLs")
    func arguments() throws {
        let plan = try plan()
        let health = plan.roles.map(\.healthPort)
        #expect(Set(health).count == health.count)
        let matcher = try #require(plan.roles.first)
        #expect(matcher.arguments == [
            "matcher", "--shard", "0", "--replica", "a", "--redis", "redis://r", "--data", "/d/matcher-0-a", "--ops-port", "18080",
            "--trim-log", "--required-consumers", "recorder,gateway", "--output-retention-seconds", "3600",
        ])
        let gateway = try #require(plan.roles.first { $0.name == "gateway" })
        #expect(gateway.healthPath == "/health" && gateway.healthPort == 18_089 && gateway.metricsPort == 18_089)
        #expect(gateway.arguments.contains("8080") && !gateway.arguments.contains("--tls-cert"))
        var tls = LaunchPlan.Options()
        tls.tls = ("/c.pem", "/k.pem")
        let secure = try self.plan(tls).roles.filter { ["gateway", "marketdata"].contains($0.name) }
        #expect(secure.allSatisfy { $0.arguments.suffix(4) == ["--tls-cert", "/c.pem", "--tls-key", "/k.pem"] })
        #expect(gateway.arguments.contains("postgres://p"))
    }

    @Test("Overlapping ports and impossible counts are refused with the reason")
    func refusals() throws {
        var overlapping = LaunchPlan.Options()
        overlapping.gatewayPort = 18_083
        #expect(throws: LaunchPlanError.self) { try plan(overlapping) }
        var marketOnGateway = LaunchPlan.Options()
        marketOnGateway.marketDataPort = 8079  // its ops port is 8080, the gateway's
        #expect(throws: LaunchPlanError.self) { try plan(marketOnGateway) }
        var tooMany = LaunchPlan.Options()
        tooMany.replicas = 27
        #expect(throws: LaunchPlanError.invalid("--replicas must be within 1...26")) { try plan(tooMany) }
        #expect(throws: LaunchPlanError.self) { try plan(shards: []) }
        var high = LaunchPlan.Options()
        high.opsBasePort = 65_530
        #expect(throws: LaunchPlanError.invalid("every port must be within 1...65535")) { try plan(high) }
    }
}
