import ExchangeChain
import ExchangeClearing
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeRedis
import ExchangeWallet
import ExchangeWalletStore
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// The wallet role for one chain and its native asset: while it holds the wallet lease it
/// follows the chain for deposits, sends what it owes clearing (in order, each at its
/// position, so a resend is dropped as a repeat), and signs, broadcasts and follows
/// withdrawals. A second instance waits on the lease as a hot standby.
///
/// Exactly-once rules: a deposit is credited from the stored CONFIRMED state only; a
/// withdrawal's transaction is stored signed before it is broadcast and every broadcast sends
/// the stored bytes; every write checks the lease in its transaction.
public final class WalletService: Service {
    public struct Configuration: Sendable {
        public var asset: WalletAsset
        /// Where the watcher starts on a chain it never followed.
        public var startBlock: UInt64
        public var keptBlocks: Int
        public var pollInterval: Duration
        public var leaseMilliseconds: Int64
        /// A transaction the node does not know is broadcast again after this long.
        public var rebroadcastInterval: Duration
        /// Called right after a withdrawal's transaction is stored signed and before it is
        /// broadcast: a drill's fault point (throwing ends the round there, as a crash would).
        /// Nothing in production.
        public var afterSigning: @Sendable (UInt64) throws -> Void

        public init(
            asset: WalletAsset, startBlock: UInt64 = 0, keptBlocks: Int = 128, pollInterval: Duration = .milliseconds(200),
            leaseMilliseconds: Int64 = 5_000, rebroadcastInterval: Duration = .seconds(5), afterSigning: @escaping @Sendable (UInt64) throws -> Void = { _ in }
        ) {
            self.asset = asset
            self.startBlock = startBlock
            self.keptBlocks = keptBlocks
            self.pollInterval = pollInterval
            self.leaseMilliseconds = leaseMilliseconds
            self.rebroadcastInterval = rebroadcastInterval
            self.afterSigning = afterSigning
        }
    }

    public static let producer = ProducerID("wallet")
    let configuration: Configuration
    let chain: any ChainAdapter
    let signer: any TransferSigner
    let store: WalletStore
    let clearing: ClearingAdmin
    let logger: Logger
    let holder = "wallet-\(UUID().uuidString)"
    /// Blocks between the node's newest and the newest the watcher applied.
    let chainLag = Gauge(label: "exchange_wallet_chain_lag_blocks")
    /// 1 while withdrawals are paused (the hot wallet under its floor).
    let paused = Gauge(label: "exchange_wallet_withdrawals_paused")
    /// Adjustment cases staff have not resolved (credited deposits a deep reorg removed).
    let openCases = Gauge(label: "exchange_wallet_open_cases")
    /// Clearing commands owed and not yet settled.
    let outboxBacklog = Gauge(label: "exchange_wallet_outbox_backlog")
    /// 1 on the instance holding the lease.
    let activeInstance = Gauge(label: "exchange_wallet_active")
    let depositsCredited = Counter(label: "exchange_wallet_deposits_credited_total")
    let broadcasts = Counter(label: "exchange_wallet_broadcasts_total")
    let reorganisations = Counter(label: "exchange_wallet_reorganisations_total")

    public init(configuration: Configuration, chain: any ChainAdapter, signer: any TransferSigner, store: WalletStore, redis: RedisClient, logger: Logger) {
        self.configuration = configuration
        self.chain = chain
        self.signer = signer
        self.store = store
        clearing = ClearingAdmin(client: redis)
        self.logger = logger
    }

    /// Runs until cancelled or a graceful shutdown. Errors of one round (a node or Redis away)
    /// are logged and the round is tried again; losing the lease makes this instance a standby again.
    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.loop() }
    }

    func loop() async throws {
        try await store.save(configuration.asset)
        var active: Active?
        while !Task.isCancelled {
            do {
                if let fence = try await store.acquireLease(holder: holder, durationMilliseconds: configuration.leaseMilliseconds) {
                    if active?.fence != fence {
                        logger.notice("wallet active", metadata: ["epoch": "\(fence.epoch)", "asset": "\(configuration.asset.asset)"])
                        active = Active(fence: fence, tracker: try await store.restoreTracker(
                            chain: configuration.asset.chain, confirmations: configuration.asset.confirmations, keptBlocks: configuration.keptBlocks,
                            startBlock: configuration.startBlock))
                    }
                    activeInstance.record(1)
                    try await round(&active!)
                } else if active != nil {
                    logger.warning("wallet lease lost: standing by")
                    active = nil
                }
                if active == nil { activeInstance.record(0) }
            } catch {
                switch WalletStoreError.underlying(error) {
                case WalletStoreError.fenced:
                    logger.warning("wallet fenced: another instance is active")
                    active = nil
                case is CancellationError:
                    return
                case let cause:
                    logger.error("wallet round failed: \(cause)")
                }
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// What the active instance keeps between rounds.
    struct Active {
        var fence: WalletFence
        var tracker: DepositTracker
        var lastBroadcast: [UInt64: ContinuousClock.Instant] = [:]
        /// The deposit addresses followed (address → owner), read incrementally.
        var owners: [String: (user: Int64, asset: String)] = [:]
        /// The newest address's creation time read (µs since the Unix epoch).
        var ownersReadThrough: Int64?
    }

    /// How far back each incremental read of new addresses reaches before the newest one seen
    /// (µs): an address stored by a transaction that began earlier and committed later is
    /// still found.
    static let addressReadOverlapMicroseconds: Int64 = 60_000_000

    /// One round: follow the chain, settle with clearing, move withdrawals on.
    func round(_ active: inout Active) async throws {
        try await watch(&active)
        try await drainOutbox(active.fence)
        try await processWithdrawals(&active)
        try await drainOutbox(active.fence)
        let health = try await store.health(asset: configuration.asset.asset)
        openCases.record(health.openCases)
        outboxBacklog.record(health.outboxBacklog)
        paused.record(health.paused ? 1 : 0)
    }

    // MARK: Deposits

    func watch(_ active: inout Active) async throws {
        let asset = configuration.asset
        // The tip first, then the addresses: a payment in a block up to this tip was sent to an
        // address stored before the tip was read, so the read below sees it.
        let tip = try await chain.latestBlockNumber()
        let fresh = try await store.watchedAddresses(
            chain: asset.chain, sinceMicroseconds: active.ownersReadThrough.map { $0 - Self.addressReadOverlapMicroseconds })
        active.owners.merge(fresh.addresses) { _, new in new }
        if let newest = fresh.newest { active.ownersReadThrough = max(active.ownersReadThrough ?? newest, newest) }
        let owners = active.owners
        let watched = Set(owners.keys)
        try await rollBackIfReorganised(&active)
        defer { chainLag.record(Int(tip) - Int(active.tracker.appliedThrough ?? tip)) }
        var applied = 0
        while active.tracker.nextBlock <= tip, applied < 500 {
            guard let block = try await chain.block(active.tracker.nextBlock, paymentsTo: watched) else { break }
            var tracker = active.tracker
            let events: [DepositEvent]
            do {
                events = try tracker.apply(block)
            } catch .reorganised {
                try await rollBackIfReorganised(&active, force: true)
                continue
            }
            let credited = try await store.record(
                chain: asset.chain, applied: block, rolledBackTo: nil, events: events, owners: owners, assets: [asset.asset: asset],
                keptBlocks: configuration.keptBlocks, fence: active.fence)
            for key in credited { _ = tracker.markCredited(key) }
            if !credited.isEmpty { depositsCredited.increment(by: credited.count) }
            tracker.forgetBelowKeptBlocks()
            active.tracker = tracker
            applied += 1
        }
    }

    /// Compares the newest kept block with the chain's; if they differ (or `force`), walks back
    /// to the newest block both agree on and rolls back to it.
    func rollBackIfReorganised(_ active: inout Active, force: Bool = false) async throws {
        guard let newest = active.tracker.appliedThrough else { return }
        if !force, try await chain.block(newest, paymentsTo: [])?.hash == active.tracker.hash(of: newest) { return }
        var fork = newest
        while fork > 0 {
            fork -= 1
            guard let kept = active.tracker.hash(of: fork) else { break }
            if try await chain.block(fork, paymentsTo: [])?.hash == kept { break }
        }
        var tracker = active.tracker
        let events = try tracker.rollBack(to: fork)
        logger.warning("chain reorganised", metadata: ["back_to_block": "\(fork)", "from_block": "\(newest)"])
        reorganisations.increment()
        for case .reorgAfterCredit(let key, let block) in events {
            logger.critical("a credited deposit left the chain: adjustment case opened", metadata: ["deposit": "\(key)", "block": "\(block)"])
        }
        _ = try await store.record(
            chain: configuration.asset.chain, applied: nil, rolledBackTo: fork, events: events, owners: [:], assets: [:], keptBlocks: configuration.keptBlocks,
            fence: active.fence)
        active.tracker = tracker
    }

    // MARK: Clearing

    /// Sends the outbox to clearing in order, one entry at a time, each settled from
    /// clearing's own output before the next is sent.
    func drainOutbox(_ fence: WalletFence) async throws {
        var map: ClusterMap?
        while let entry = try await store.nextOutboxEntry(fence: fence) {
            let command: ClearingCommand
            let user = UserID(entry.user)
            guard let asset = AssetCode(entry.asset) else { throw WalletStoreError.corrupt("outbox asset \(entry.asset)") }
            switch entry.kind {
            case .deposit: command = .deposit(user: user, asset: asset, amount: entry.amount, reference: UInt64(entry.reference))
            case .hold: command = .holdWithdrawal(id: UInt64(entry.reference), user: user, asset: asset, amount: entry.amount)
            case .complete: command = .completeWithdrawal(id: UInt64(entry.reference))
            case .release: command = .releaseWithdrawal(id: UInt64(entry.reference))
            }
            if map == nil { map = try await ClusterMapStore(client: clearing.client).load() }
            guard let partition = map?.partition(for: user) else { throw ClusterMapStoreError.notInitialized }
            let submission = try await clearing.submit(
                ClearingInput(producer: Self.producer, position: UInt64(entry.position), commands: [command]), to: partition, timeout: .seconds(5))
            guard var events = submission.events else { return }  // no primary answered: resent next round, a repeat if it was applied
            if events.contains(where: { if case .duplicateInput = $0 { true } else { false } }) {
                guard let first = try await clearing.events(of: Self.producer, at: UInt64(entry.position), in: partition, searching: 1_000_000) else {
                    throw WalletStoreError.corrupt("clearing applied outbox entry \(entry.id) but its output is gone")
                }
                events = first
            }
            let rejection = events.lazy.compactMap { event -> String? in
                if case .rejected(_, let reason) = event { reason == .insufficientFunds ? WalletStore.insufficientBalance : "clearing refused it: \(reason)" } else { nil }
            }.first
            if let rejection { logger.warning("clearing refused \(entry.kind.rawValue) \(entry.reference): \(rejection)") }
            try await store.settle(entry, rejection: rejection, fence: fence)
        }
    }

    // MARK: Withdrawals

    func processWithdrawals(_ active: inout Active) async throws {
        let asset = configuration.asset
        let tip = try await chain.latestBlockNumber()
        for record in try await store.workingWithdrawals(asset: asset.asset) {
            switch record.state {
            case .approved:
                guard try await sign(record, active: &active) else { return }  // paused: later ones wait too (nonce order)
            case .processing, .onChain:
                try await follow(record, tip: tip, active: &active)
            default:
                break
            }
        }
    }

    /// Signs and stores an approved withdrawal, then broadcasts it. False when the hot wallet
    /// would go below its floor (withdrawals pause, and say why).
    func sign(_ record: WithdrawalRecord, active: inout Active) async throws -> Bool {
        let asset = configuration.asset
        guard let value = asset.baseUnits(of: record.amount) else { throw WalletStoreError.corrupt("withdrawal \(record.id) amount") }
        let balance = try await chain.balance(of: signer.address)
        let pausedReason = try await store.asset(asset.asset)?.pausedReason
        if balance < asset.hotFloor || balance - asset.hotFloor < value {
            let reason = "the hot wallet holds \(balance) base units; sending \(value) would leave it under its floor of \(asset.hotFloor)"
            if pausedReason != reason {
                logger.critical("withdrawals paused: hot wallet under its floor", metadata: ["asset": "\(asset.asset)", "balance": "\(balance)"])
                try await store.setPaused(asset.asset, reason: reason)
            }
            return false
        }
        if pausedReason != nil {
            try await store.setPaused(asset.asset, reason: nil)
            logger.notice("withdrawals resumed: the hot wallet is above its floor", metadata: ["asset": "\(asset.asset)"])
        }
        let chainNonce = try await chain.nextNonce(of: signer.address)
        let nonce = max(chainNonce, (try await store.highestNonce(asset: asset.asset)).map { $0 + 1 } ?? 0)
        let signed = try signer.sign(to: record.address, amount: value, nonce: nonce)
        let stored = try await store.transition(Int64(record.id), fence: active.fence) { record in
            try record.signed(signed.raw, nonce: nonce, hash: signed.hash)
            return false
        }
        logger.info("withdrawal signed", metadata: ["withdrawal": "\(record.id)", "nonce": "\(nonce)", "tx": "\(signed.hash)"])
        try configuration.afterSigning(record.id)
        try await broadcast(stored, active: &active)
        return true
    }

    /// Counts the broadcast in the store first, then sends the stored bytes.
    func broadcast(_ record: WithdrawalRecord, active: inout Active) async throws {
        let counted = try await store.transition(Int64(record.id), fence: active.fence) { record in
            _ = try record.transactionToBroadcast()
            return false
        }
        guard let raw = counted.signedTransaction else { return }
        active.lastBroadcast[record.id] = .now
        broadcasts.increment()
        do {
            _ = try await chain.broadcast(raw)
        } catch {
            logger.warning("broadcast of withdrawal \(record.id) failed (sent again later): \(error)")
        }
    }

    func follow(_ record: WithdrawalRecord, tip: UInt64, active: inout Active) async throws {
        guard let hash = record.transactionHash else { return }
        let id = Int64(record.id)
        switch try await chain.status(ofTransaction: hash) {
        case .mined(let block, true):
            if record.state == .processing || record.blockNumber != block {
                try await store.transition(id, fence: active.fence) { record in
                    try record.seenOnChain(block: block)
                    return false
                }
            }
            if tip + 1 >= block + configuration.asset.confirmations {
                try await store.transition(id, fence: active.fence) { record in
                    try record.confirmed()
                    return false
                }
                logger.info("withdrawal completed", metadata: ["withdrawal": "\(record.id)", "tx": "\(hash)"])
            }
        case .mined(let block, false):
            try await store.transition(id, fence: active.fence) { record in try record.reverted(block: block) }
            logger.error("withdrawal transaction reverted: freeze released", metadata: ["withdrawal": "\(record.id)", "tx": "\(hash)"])
        case .pending, .unknown:
            if record.state == .onChain {
                try await store.transition(id, fence: active.fence) { record in
                    try record.leftChain()
                    return false
                }
            }
            let last = active.lastBroadcast[record.id]
            if record.broadcasts == 0 || last.map({ ContinuousClock.now - $0 >= configuration.rebroadcastInterval }) ?? true {
                try await broadcast(record, active: &active)
            }
        }
    }
}
