import ExchangeTesting
import Foundation
import Testing

/// `exchange ctl asset|symbol|deposit` and `exchange clearing` as an operator runs them, on a
/// private redis-server (the cluster's keys are global, so it gets a server of its own).
/// Where `redis-server` is installed, if it is.
let redisServerPath: String? = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite(.serialized, .enabled(if: redisServerPath != nil, "needs redis-server (scripts/test installs it)"))
struct ClearingCLITests {
    /// A free loopback port (bound, read, released).
    static func freePort() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                _ = bind(descriptor, pointer, length)
                return getsockname(descriptor, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("assets, a symbol and deposits through ctl; every bad input exits 1 with a message and changes nothing; replicas report health and step timings")
    func operatorFlow() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clearing-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = Self.freePort()
        let redis = Process()
        redis.executableURL = URL(fileURLWithPath: redisServerPath!)
        redis.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--save", "", "--appendonly", "no"]
        redis.standardOutput = FileHandle.nullDevice
        try redis.run()
        // SIGKILL: a child of the test process may start with SIGTERM blocked (seen here).
        defer { kill(redis.processIdentifier, SIGKILL); redis.waitUntilExit() }
        let url = ["--redis", "redis://127.0.0.1:\(port)"]
        func exchange(_ arguments: [String]) throws -> ExchangeProcess { try ExchangeProcess.run(arguments + url) }
        // Redis takes a moment to listen.
        var initialized = try exchange(["ctl", "init", "--shards", "1", "--partitions", "2"])
        for _ in 0..<100 where initialized.status != 0 {
            try await Task.sleep(for: .milliseconds(50))
            initialized = try exchange(["ctl", "init", "--shards", "1", "--partitions", "2"])
        }
        #expect(initialized.status == 0, "\(initialized.standardError)")
        var replicas: [Process] = []
        defer { for replica in replicas { replica.terminate(); replica.waitUntilExit() } }
        let opsPorts = [Self.freePort(), Self.freePort()]
        for partition in 0..<2 {
            let replica = Process()
            replica.executableURL = ExchangeProcess.binary
            replica.arguments = ["clearing", "--partition", String(partition), "--replica", "a", "--data", directory.appendingPathComponent("p\(partition)").path,
                                 "--ops-port", String(opsPorts[partition])] + url
            replica.standardError = FileHandle.nullDevice
            try replica.run()
            replicas.append(replica)
        }

        #expect(try exchange(["ctl", "asset", "add", "BTC", "--scale", "8"]).status == 0)
        #expect(try exchange(["ctl", "asset", "add", "USDT", "--scale", "6"]).status == 0)
        let conflict = try exchange(["ctl", "asset", "add", "BTC", "--scale", "7"])
        #expect(conflict.status == 1 && conflict.standardError.contains("asset BTC exists with scale 8"))
        #expect(try exchange(["ctl", "asset", "add", "btc", "--scale", "8"]).status != 0)

        // 0.01 × 0.00001 is 10^-7 USDT: not a whole unit at scale 6; refused before anything is written.
        let inexact = try exchange(["ctl", "symbol", "add", "BTCUSDT", "--base", "BTC", "--quote", "USDT", "--tick", "0.01", "--step", "0.00001",
                                    "--maker-fee-bps", "10", "--taker-fee-bps", "20"])
        #expect(inexact.status == 1 && inexact.standardError.contains("not a whole number"), "\(inexact.standardError)")
        #expect(try exchange(["ctl", "status"]).standardOutput.contains("shard 0: input 0,"))
        let listed = try exchange(["ctl", "symbol", "add", "BTCUSDT", "--base", "BTC", "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                                   "--min-notional", "5", "--maker-fee-bps", "10", "--taker-fee-bps", "20"])
        #expect(listed.status == 0 && listed.standardOutput.contains("symbol BTCUSDT: BTC/USDT on shard 0"), "\(listed.standardError)")
        #expect(try exchange(["ctl", "symbol", "add", "ETHUSDT", "--base", "ETH", "--quote", "USDT", "--tick", "0.01", "--step", "0.0001",
                              "--maker-fee-bps", "10", "--taker-fee-bps", "20"]).standardError.contains("unknown asset ETH"))

        let deposit = try exchange(["ctl", "deposit", "42", "USDT", "1000.5"])
        #expect(deposit.status == 0 && deposit.standardOutput.contains("deposited 1000.5 USDT to user 42"), "\(deposit.standardError)")
        for bad in [["42", "USDT", "0.0000001"], ["42", "USDT", "-1"], ["42", "ETH", "1"], ["42", "USDT", "abc"]] {
            let refused = try exchange(["ctl", "deposit"] + bad)
            #expect(refused.status != 0 && !refused.standardError.isEmpty, "deposit \(bad)")
        }
        let status = try exchange(["ctl", "status"]).standardOutput
        #expect(status.contains("partition 0:") && status.contains("partition 1:"))

        // Each replica's ops port: health, and metrics with the step histograms of a primary
        // that applied and appended (every ctl call above went through a partition).
        for (partition, opsPort) in opsPorts.enumerated() {
            let labels = "partition=\"\(partition)\",replica=\"a\""
            var metrics = ""
            for _ in 0..<100 {
                metrics = (try? PlainHTTP.get(port: opsPort, path: "/metrics").body) ?? ""
                if metrics.contains("exchange_replica_append_seconds_count{\(labels)} "),
                   !metrics.contains("exchange_replica_append_seconds_count{\(labels)} 0\n") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(metrics.contains("exchange_replica_role{\(labels),role=\"primary\"} 1"), "\(metrics)")
            #expect(metrics.contains("# TYPE exchange_replica_apply_seconds histogram"))
            #expect(metrics.contains("exchange_replica_apply_seconds_bucket{\(labels),le=\"+Inf\"} "))
            #expect(!metrics.contains("exchange_replica_append_seconds_count{\(labels)} 0\n"), "a primary that appended counts its steps")
            let health = try PlainHTTP.get(port: opsPort, path: "/health")
            #expect(health.status == 200 && health.body.contains("\"role\":\"primary\""), "\(health)")
        }
    }
}
