import Synchronization
import ExchangeChain
import ExchangeClearing
import ExchangeClearingPartition
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeClusterTools
import ExchangeCore
import ExchangeEthereum
import ExchangePostgres
import ExchangeRedis
import ExchangeReplicaRuntime
import ExchangeReplication
import ExchangeWallet
import ExchangeWalletService
import ExchangeWalletStore
import Foundation
import Logging
import PostgresNIO
import Testing

/// The wallet against the seeded simulated chain, real PostgreSQL, a real Redis of its own and
/// two clearing partitions of two replicas each in this process: deposits, withdrawals,
/// reorganisations shallower than the confirmations, dropped transactions, fee spikes that
/// keep withdrawals stuck, wallet crashes (some between signing and broadcasting), clearing
/// replicas killed and Redis restarted at seeded random points. Afterwards the chain, the
/// wallet's tables and clearing's ledger agree exactly.
@Suite(.serialized, .enabled(
    if: ProcessInfo.processInfo.environment["EXCHANGE_TEST_REDIS_URL"] != nil && ProcessInfo.processInfo.environment["EXCHANGE_TEST_POSTGRES_URL"] != nil,
    "set EXCHANGE_TEST_REDIS_URL and EXCHANGE_TEST_POSTGRES_URL (scripts/test does)"))
struct WalletSimulationTests {
    let logger = Logger(label: "wallet-simulation")
    static let hot = WalletHarness.hot
    static let confirmations: UInt64 = 4
    static let weiPerUnit = WalletHarness.weiPerUnit

    struct SimulatedCrash: Error {}

    @Test("seeded: what the chain received and sent equals what clearing credited and paid out, each transfer once", arguments: [UInt64(11), 29])
    func simulation(seed: UInt64) async throws {
        let harness = try await WalletHarness(
            seed: seed, confirmations: Self.confirmations, dropChance: 0.3, hotFloor: 0,
            policy: WithdrawalPolicy(minimum: 1_000, fee: 100, automaticBelow: 500_000, twoApprovalsFrom: 2_000_000, dailyLimit: .max / 4, whitelistCoolingMilliseconds: 0),
            ownRedis: true)
        defer { harness.close() }
        let (redis, postgres, store, adapter) = (harness.redis, harness.postgres, harness.store, harness.adapter)
        var redisRestarts = 0
        var random = SplitMix64(seed: seed)
        let users = Array(Int64(1)...12)
        var depositAddresses: [String: Int64] = [:]
        var payout: [Int64: String] = [:]
        for user in users {
            depositAddresses[try await store.depositAddress(user: user, asset: "ETH")] = user
            let target = "0x" + Hex.encode((0..<20).map { _ in UInt8.random(in: 0...255, using: &random) })
            payout[user] = target
            _ = try await store.whitelist(user: user, asset: "ETH", address: target, label: "mine")
        }
        // The hot wallet starts with what the exchange keeps on chain.
        adapter.withChain { $0.send(to: Self.hot, amount: 1_000_000_000 * Self.weiPerUnit) }

        let crashes = Crashes(seed: seed)
        func wallet() -> Task<Void, any Error> { harness.wallet { _ in if crashes.next() { throw SimulatedCrash() } } }
        var walletTask = wallet()

        var requested = 0
        for step in 0..<2_500 {
            let roll = random.next() % 100
            switch roll {
            case 0..<35:
                let address = depositAddresses.keys.sorted()[Int(random.next() % UInt64(depositAddresses.count))]
                // Whole units mostly, sometimes with dust below a unit (kept on chain, not credited).
                let amount = UInt128(1 + random.next() % 200_000) * Self.weiPerUnit + (random.next() % 4 == 0 ? UInt128(random.next() % 9_999) : 0)
                adapter.withChain { $0.send(to: address, amount: amount) }
            case 35..<60:
                adapter.withChain { _ = $0.mine(capacity: 1 + Int(random.next() % 6)) }
            case 60..<64:
                adapter.withChain { _ = $0.reorganise(depth: 1 + Int(random.next() % (Self.confirmations - 1))) }
            case 64..<66:
                // A fee spike starts or ends: the hot wallet's transactions (fee 1) wait while it lasts.
                adapter.withChain { $0.minimumFee = $0.minimumFee == 0 ? 10 : 0 }
            case 66..<86:
                let user = users[Int(random.next() % UInt64(users.count))]
                let amount = Int64(1_000 + random.next() % 150_000)
                requested += 1
                _ = try? await store.requestWithdrawal(
                    user: user, asset: "ETH", amount: amount, address: payout[user]!, clientID: "w\(step)", nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
            case 86..<92:
                for view in try await store.withdrawals(user: nil, states: ["PENDING"]) {
                    let staff = ["ops-\(random.next() % 3)"]
                    try? await store.transition(Int64(view.record.id)) { record in
                        try record.approve(by: staff[0])
                        return false
                    }
                }
            case 92..<93 where random.next() % 3 == 0:
                try await harness.restartRedis(downtime: .milliseconds(300))
                redisRestarts += 1
            case 92..<96:
                walletTask.cancel()
                _ = await walletTask.result
                walletTask = wallet()
            default:
                let partition = Int(random.next() % 2)
                let name = random.next() % 2 == 0 ? "a" : "b"
                let index = name == "a" ? 0 : 1
                harness.clearing[partition][index].cancel()
                _ = await harness.clearing[partition][index].result
                harness.clearing[partition][index] = try harness.replica(PartitionID(partition), name)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // Staff approve what waits; the chain goes on without reorganisations or fee spikes until all settles.
        adapter.withChain { $0.minimumFee = 0 }
        let deadline = ContinuousClock.now + .seconds(120)
        var settled = false
        while !settled, ContinuousClock.now < deadline {
            for view in try await store.withdrawals(user: nil, states: ["PENDING"]) {
                for staff in ["lead-1", "lead-2"] {
                    try? await store.transition(Int64(view.record.id)) { record in
                        if record.state == .pending { try record.approve(by: staff) }
                        return false
                    }
                }
            }
            adapter.withChain { _ = $0.mine() }
            try await Task.sleep(for: .milliseconds(50))
            settled = try await unsettled(postgres) == 0 && adapter.withChain { $0.mempool.isEmpty }
        }
        #expect(settled, "every deposit and withdrawal settled")

        // The chain's truth: payments to deposit addresses, and the hot wallet's transfers.
        let chain = adapter.withChain { $0 }
        var receivedUnits: Int64 = 0
        var sent: [String: Int] = [:]
        for transaction in chain.blocks.flatMap(\.transactions) {
            if depositAddresses[transaction.to] != nil { receivedUnits += Int64(transaction.amount / Self.weiPerUnit) }
            if transaction.from == Self.hot { sent[transaction.hash, default: 0] += 1 }
        }
        let wallet = try await totals(postgres)
        #expect(wallet.completedDepositUnits == receivedUnits, "credited = received on chain (in units)")
        #expect(sent.values.allSatisfy { $0 == 1 }, "no transaction twice on chain")
        #expect(Set(sent.keys) == wallet.completedWithdrawalHashes, "each completed withdrawal on chain once, nothing else sent")
        #expect(wallet.openCases == 0, "reorgs shallower than the confirmations open no case")
        // Clearing's ledger: deposits in = what the wallet credited, each once; withdrawals out =
        // amount + fee of the completed ones, each once.
        let ledger = try await ledgerTotals(redis)
        #expect(ledger.depositReferences.count == Set(ledger.depositReferences).count, "no deposit credited twice")
        #expect(ledger.depositUnits == wallet.completedDepositUnits)
        #expect(ledger.withdrawalOutUnits == wallet.completedWithdrawalUnits)
        #expect(wallet.completedWithdrawals > 0 && wallet.failedWithdrawals >= 0 && requested > 0)
        let checks = try await ClearingAuditor(client: redis).audit()
        for check in checks { #expect(check.passed, "\(check.name): \(check.details)") }
        print("wallet simulation seed \(seed): \(wallet.completedDeposits) deposits, \(wallet.completedWithdrawals) withdrawals completed, \(wallet.failedWithdrawals) failed, \(crashes.count) crashes after signing, \(redisRestarts) Redis restarts")
    }

    @Test("a hot wallet under its floor pauses withdrawals (new ones refused, the approved one waits, unsigned) until it is refilled")
    func hotWalletFloor() async throws {
        let harness = try await WalletHarness(
            seed: 3, confirmations: 2, dropChance: 0, hotFloor: 50 * Self.weiPerUnit,
            policy: WithdrawalPolicy(minimum: 1, fee: 0, automaticBelow: 1_000_000, twoApprovalsFrom: 2_000_000, dailyLimit: 1_000_000, whitelistCoolingMilliseconds: 0))
        defer { harness.close() }
        let (store, adapter) = (harness.store, harness.adapter)
        adapter.withChain { $0.send(to: Self.hot, amount: 100 * Self.weiPerUnit) }
        let address = try await store.depositAddress(user: 5, asset: "ETH")
        let payee = "0x" + String(repeating: "77", count: 20)
        _ = try await store.whitelist(user: 5, asset: "ETH", address: payee, label: "")
        adapter.withChain { $0.send(to: address, amount: 1_000 * Self.weiPerUnit) }
        _ = harness.wallet()
        func until(_ what: String, _ condition: () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while try await !condition() {
                #expect(ContinuousClock.now < deadline, "timed out waiting for \(what)")
                guard ContinuousClock.now < deadline else { return }
                adapter.withChain { _ = $0.mine() }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await until("the deposit's credit") { try await self.unsettled(harness.postgres) == 0 && adapter.withChain { $0.blocks.count } > 3 }
        let now = { Int64(Date().timeIntervalSince1970 * 1000) }
        let id = try await store.requestWithdrawal(user: 5, asset: "ETH", amount: 80, address: payee, clientID: nil, nowMilliseconds: now())
        try await until("the pause") { try await store.asset("ETH")?.pausedReason != nil }
        let waiting = try #require(try await store.withdrawal(id)).record
        #expect(waiting.state == .approved && waiting.signedTransaction == nil, "approved and held, never signed")
        await #expect(throws: WalletRequestError.self) {
            try await store.requestWithdrawal(user: 5, asset: "ETH", amount: 1, address: payee, clientID: nil, nowMilliseconds: now())
        }
        adapter.withChain { $0.send(to: Self.hot, amount: 100 * Self.weiPerUnit) }
        try await until("the withdrawal to complete") { try await store.withdrawal(id)?.record.state == .completed }
        #expect(try await store.asset("ETH")?.pausedReason == nil, "resumed")
        #expect(adapter.withChain { $0.balance(of: payee) } == 80 * Self.weiPerUnit)
    }

    /// Deposits or withdrawals not yet final, plus unsettled outbox entries.
    func unsettled(_ postgres: PostgresClient) async throws -> Int64 {
        for try await count in try await postgres.query("""
            SELECT (SELECT count(*) FROM exchange_wallet.deposits WHERE state IN ('PENDING', 'CONFIRMED', 'CREDITED'))
              + (SELECT count(*) FROM exchange_wallet.withdrawals WHERE state NOT IN ('COMPLETED', 'FAILED'))
              + (SELECT count(*) FROM exchange_wallet.outbox WHERE state IN ('QUEUED', 'SENT'))
            """, logger: logger).decode(Int64.self) { return count }
        return -1
    }

    struct WalletTotals {
        var completedDeposits = 0
        var completedDepositUnits: Int64 = 0
        var completedWithdrawals = 0
        var failedWithdrawals = 0
        var completedWithdrawalUnits: Int64 = 0
        var completedWithdrawalHashes: Set<String> = []
        var openCases = 0
    }

    func totals(_ postgres: PostgresClient) async throws -> WalletTotals {
        var totals = WalletTotals()
        for try await units in try await postgres.query("SELECT units FROM exchange_wallet.deposits WHERE state = 'COMPLETED'", logger: logger).decode(Int64.self) {
            totals.completedDeposits += 1
            totals.completedDepositUnits += units
        }
        for try await (state, amount, fee, hash) in try await postgres.query(
            "SELECT state, amount, fee, tx_hash FROM exchange_wallet.withdrawals", logger: logger
        ).decode((String, Int64, Int64, String?).self) {
            if state == "COMPLETED" {
                totals.completedWithdrawals += 1
                totals.completedWithdrawalUnits += amount + fee
                if let hash { totals.completedWithdrawalHashes.insert(hash) }
            } else if state == "FAILED" {
                totals.failedWithdrawals += 1
            }
        }
        totals.openCases = try await WalletStore(postgres: postgres, logger: logger).openCases().count
        return totals
    }

    /// Sums clearing's deposit and withdrawal-completion transactions over both partitions' outputs.
    func ledgerTotals(_ redis: RedisClient) async throws -> (depositUnits: Int64, depositReferences: [ClearingCause], withdrawalOutUnits: Int64) {
        var depositUnits: Int64 = 0
        var withdrawalOut: Int64 = 0
        var causes: [ClearingCause] = []
        for partition in PartitionID(0)...1 {
            let key = ReplicaLogKeys.clearingPartition(partition).output
            var after = StreamID(milliseconds: 0, sequence: 0)
            while true {
                let page = try await redis.xrange(key, after: after, count: 500)
                guard let last = page.last else { break }
                for entry in page {
                    for case .transaction(let transaction) in try ClearingLogCodec.decodeEvents(entry.value("d")!) {
                        let external = transaction.entries.filter { $0.account == .external }.map(\.amount).reduce(0, +)
                        switch transaction.kind {
                        case .deposit:
                            depositUnits -= external
                            causes.append(transaction.cause)
                        case .withdrawalComplete:
                            withdrawalOut += external
                        default:
                            break
                        }
                    }
                }
                after = last.id
            }
        }
        return (depositUnits, causes, withdrawalOut)
    }
}

/// Seeded crash decisions shared with the wallet's fault hook.
final class Crashes: Sendable {
    let state: Mutex<(random: SplitMix64, count: Int)>

    init(seed: UInt64) { state = Mutex((SplitMix64(seed: seed ^ 0xC0FFEE), 0)) }

    /// Whether to crash now (one signing in five).
    func next() -> Bool {
        state.withLock { state in
            let crash = state.random.next() % 5 == 0
            if crash { state.count += 1 }
            return crash
        }
    }

    var count: Int { state.withLock { $0.count } }
}
