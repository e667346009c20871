import ArgumentParser
import AsyncHTTPClient
import ExchangeChain
import ExchangeClearing
import ExchangeClusterClient
import ExchangeCore
import ExchangeEthereum
import ExchangeEthereumRPC
import ExchangeOps
import ExchangeWallet
import ExchangeWalletService
import ExchangeWalletStore
import Foundation
import Logging
import Prometheus

/// `exchange wallet`: deposits and withdrawals of one chain's native asset through an
/// Ethereum JSON-RPC node. Any number of instances: one is active (a lease in PostgreSQL),
/// the others stand by.
struct WalletCommand: AsyncParsableCommand, RoleCommand {
    static let configuration = CommandConfiguration(
        commandName: "wallet",
        abstract: "Deposit addresses, chain watching and the withdrawal pipeline of one asset on an Ethereum JSON-RPC node.",
        discussion: """
            Deposit addresses derive from the extended public key (--xpub or EXCHANGE_WALLET_XPUB) as m/ASSET-INDEX/USER: no \
            private key for them is on this host. The hot wallet's key: EXCHANGE_WALLET_KEY (hex) or the file named by \
            EXCHANGE_WALLET_KEY_FILE; it is never logged. Amounts of the policy are decimals of the asset. Run `exchange migrate` \
            first and add the asset with `exchange ctl add-asset`. Stops on SIGINT or SIGTERM.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @OptionGroup var postgresOptions: PostgresOptions
    @OptionGroup var node: RPCOptions
    @Option(help: "The asset (registered in clearing), the chain's native coin.") var asset = "ETH"
    @Option(help: "The chain's name in the wallet's tables.") var chainName = "ethereum"
    @Option(help: "Extended public key of deposit addresses (xpub…); default EXCHANGE_WALLET_XPUB, or the file named by EXCHANGE_WALLET_XPUB_FILE.")
    var xpub: String?
    @Option(help: "Deposit addresses are m/INDEX/user of the xpub.") var assetIndex: UInt32 = 0
    @Option(help: "Blocks (its own included) before a deposit is credited or a withdrawal complete.") var confirmations: UInt64 = 12
    @Option(help: "First block to watch when this chain was never watched (default: the node's newest).") var startBlock: UInt64?
    @Option(help: "Gas price of withdrawals, in wei.") var gasPriceWei: String = "2000000000"
    @Option(help: "Smallest withdrawal.") var minimum = "0.001"
    @Option(help: "Fee charged on each withdrawal, on top of the amount.") var fee = "0.0005"
    @Option(help: "Withdrawals below this need no staff approval.") var autoApproveBelow = "1"
    @Option(help: "From this amount on, two staff members approve (one between the two limits).") var twoApprovalsFrom = "10"
    @Option(help: "A user's withdrawals in any 24 hours, at most.") var dailyLimit = "100"
    @Option(help: "Seconds a newly whitelisted address waits before it can receive.") var whitelistCoolingSeconds: Int64 = 86_400
    @Option(help: "Withdrawals pause while the hot wallet would fall below this many wei.") var hotFloorWei = "0"
    @Option(help: "Seconds between polls of the node.") var pollMilliseconds: Int = 500
    @Option(help: "Ops port for /health and /metrics (0: a free port, printed).") var opsPort = 8086

    func validate() throws {
        guard (0...65_535).contains(opsPort) else { throw ValidationError("--ops-port must be within 0...65535") }
        guard confirmations >= 1 else { throw ValidationError("--confirmations must be at least 1") }
        guard UInt128(gasPriceWei) != nil, UInt128(hotFloorWei) != nil else { throw ValidationError("--gas-price-wei and --hot-floor-wei are whole numbers of wei") }
        guard pollMilliseconds >= 10 else { throw ValidationError("--poll-milliseconds must be at least 10") }
    }

    func run() async throws {
        let process = try RoleProcess.bootstrap(role: "wallet")
        try await process.run([try await services(logger: process.logger, registry: process.registry)])
    }

    func services(logger: Logger, registry: PrometheusCollectorRegistry) async throws -> RoleServices {
        let environment = ProcessInfo.processInfo.environment
        guard let xpub = xpub ?? environment["EXCHANGE_WALLET_XPUB"] ?? environment["EXCHANGE_WALLET_XPUB_FILE"].flatMap(SecretFile.read) else {
            throw ValidationError("give --xpub or set EXCHANGE_WALLET_XPUB(_FILE) (the extended public key of deposit addresses)")
        }
        do { _ = try ExtendedPublicKey(parsing: xpub) } catch { throw ValidationError("the xpub: \(error)") }
        guard node.rpc.hasPrefix("http://") || node.rpc.hasPrefix("https://") else { throw ValidationError("--rpc must be an http:// or https:// URL") }
        let key = try ChainSign.key()
        let redis = try redisOptions.client()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let cleanup: [@Sendable () -> Void] = [{ redis.shutdown() }, { try? http.syncShutdown() }]
        do {
            guard let code = AssetCode(asset), let spec = try await ClearingAdmin(client: redis).assets()[code] else {
                throw ValidationError("\(asset) is not an asset of clearing (add it with `exchange ctl add-asset`)")
            }
            guard spec.scale <= 18 else { throw ValidationError("\(asset) has scale \(spec.scale): at most 18 decimals fit wei") }
            func units(_ text: String, _ option: String) throws -> Int64 {
                guard let decimal = try? DecimalNumber(parsing: text), let units = spec.units(of: decimal), units >= 0 else {
                    throw ValidationError("--\(option) '\(text)' is not an amount of \(asset) (at most \(spec.scale) decimals)")
                }
                return units
            }
            let policy = WithdrawalPolicy(
                minimum: try units(minimum, "minimum"), fee: try units(fee, "fee"), automaticBelow: try units(autoApproveBelow, "auto-approve-below"),
                twoApprovalsFrom: try units(twoApprovalsFrom, "two-approvals-from"), dailyLimit: try units(dailyLimit, "daily-limit"),
                whitelistCoolingMilliseconds: whitelistCoolingSeconds * 1000)
            let chain = EthereumJSONRPC(endpoint: node.rpc, http: http)
            let signer = EthereumTransferSigner(key: key, chainID: try await chain.chainID(), gasPrice: UInt128(gasPriceWei)!)
            var perUnit: UInt128 = 1
            for _ in 0..<(18 - spec.scale) { perUnit *= 10 }
            let walletAsset = WalletAsset(
                asset: asset, chain: chainName, assetIndex: assetIndex, xpub: xpub, confirmations: confirmations, baseUnitsPerUnit: perUnit, policy: policy,
                hotAddress: signer.address, hotFloor: UInt128(hotFloorWei)!)
            let start: UInt64
            if let startBlock { start = startBlock } else { start = try await chain.latestBlockNumber() }
            let postgres = try postgresOptions.settings().client(maximumConnections: 4, logger: logger)
            let fault = ProcessInfo.processInfo.environment["EXCHANGE_WALLET_FAULT"]
            let service = WalletService(
                configuration: .init(
                    asset: walletAsset, startBlock: start, pollInterval: .milliseconds(pollMilliseconds),
                    afterSigning: { id in
                        // Drills only: die as a crash would, with the transaction stored and not sent.
                        if fault == "exit-after-sign" {
                            logger.critical("EXCHANGE_WALLET_FAULT=exit-after-sign: killing this process after signing withdrawal \(id)")
                            kill(getpid(), SIGKILL)
                        }
                    }),
                chain: chain, signer: signer, store: WalletStore(postgres: postgres, logger: logger), redis: redis, logger: logger)
            logger.info("wallet for \(asset) on \(chainName): hot wallet \(signer.address), \(confirmations) confirmations, from block \(start)")
            let ops = OpsEndpoint.application(
                port: opsPort, registry: registry, logger: logger, health: { OpsEndpoint.Health(ready: true, json: #"{"status":"ok"}"#) },
                collect: {}, onListening: { logger.info("ops port \($0)") })
            return RoleServices(services: [ops, postgres, service], cleanup: cleanup)
        } catch {
            cleanup.forEach { $0() }
            throw error
        }
    }
}
