import ArgumentParser
import AsyncHTTPClient
import ExchangeChain
import ExchangeEthereum
import ExchangeEthereumRPC
import ExchangeOps
import ExchangeWallet
import Foundation

/// `exchange chain …`: the wallet's chain tools against an Ethereum JSON-RPC node (a real one,
/// or py-evm behind eth-tester in the tests): sign a transfer and store it before anything is
/// sent, broadcast stored bytes (again and again: one transfer), scan blocks for deposits.
struct Chain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain", abstract: "Ethereum tools of the wallet: sign, broadcast, scan for deposits.",
        subcommands: [ChainKeygen.self, ChainSign.self, ChainBroadcast.self, ChainScan.self])
}

struct RPCOptions: ParsableArguments {
    @Option(help: "The node's JSON-RPC URL (http://…).") var rpc: String

    func withNode<Result: Sendable>(_ body: (EthereumJSONRPC) async throws -> Result) async throws -> Result {
        guard rpc.hasPrefix("http://") || rpc.hasPrefix("https://") else { throw ValidationError("--rpc must be an http:// or https:// URL") }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await body(EthereumJSONRPC(endpoint: rpc, http: http))
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// `exchange chain keygen --out FILE`: the cold side of deposit addresses.
struct ChainKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a BIP-32 seed for deposit addresses: stored in FILE (hex, mode 600, never overwritten); prints its xpub for `exchange wallet --xpub`.",
        discussion: "Keep FILE offline: it spends every deposit address. The wallet needs only the xpub.")

    @Option(help: "Where the seed goes; refused if it exists.") var out: String
    @Option(help: "Also write the xpub to this file (for EXCHANGE_WALLET_XPUB_FILE); refused if it exists.") var xpubOut: String?

    func run() async throws {
        for path in [out] + (xpubOut.map { [$0] } ?? []) where FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) exists: a seed or its xpub is never overwritten")
        }
        var generator = SystemRandomNumberGenerator()
        let seed = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let master = try ExtendedPrivateKey(seed: seed)
        guard FileManager.default.createFile(atPath: out, contents: Data((Hex.encode(seed) + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CtlError("cannot write \(out)")
        }
        let xpub = master.serializedPublicKey!  // depth 0: always serialisable
        if let xpubOut, !FileManager.default.createFile(atPath: xpubOut, contents: Data((xpub + "\n").utf8), attributes: [.posixPermissions: 0o644]) {
            throw CtlError("cannot write \(xpubOut)")
        }
        print(xpub)
    }
}

/// `exchange chain sign --rpc URL --to ADDRESS --wei N --out FILE`
struct ChainSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a transfer with the hot-wallet key and store it in FILE; nothing is sent.",
        discussion: "The key: EXCHANGE_WALLET_KEY (64 hex digits) or the file named by EXCHANGE_WALLET_KEY_FILE. The nonce and chain id come from the node.")

    @OptionGroup var node: RPCOptions
    @Option(help: "The recipient (EIP-55 checksum checked when mixed case).") var to: String
    @Option(help: "The amount, in wei.") var wei: String
    @Option(help: "Gas price, in wei.") var gasPriceWei: String = "2000000000"
    @Option(help: "Gas limit.") var gasLimit: UInt64 = 21_000
    @Option(help: "Where the signed transaction goes (hex); refused if it exists.") var out: String

    func run() async throws {
        let recipient: EthereumAddress
        do { recipient = try EthereumAddress(parsing: to) } catch { throw ValidationError("--to: \(error)") }
        guard let value = UInt128(wei), let gasPrice = UInt128(gasPriceWei) else { throw ValidationError("--wei and --gas-price-wei are whole numbers of wei") }
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) exists: a signed transaction is never overwritten") }
        let key = try Self.key()
        try await runReportingErrors {
            try await node.withNode { chain in
                let transaction = LegacyTransaction(
                    nonce: try await chain.nextNonce(of: key.address.description), gasPrice: gasPrice, gasLimit: gasLimit, to: recipient,
                    value: value, chainID: try await chain.chainID())
                let (raw, hash) = transaction.signed(with: key)
                guard FileManager.default.createFile(atPath: out, contents: Data((Hex.encode(raw) + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw CtlError("cannot write \(out)")
                }
                print("signed 0x\(Hex.encode(hash)): nonce \(transaction.nonce), \(value) wei from \(key.address) to \(recipient), stored in \(out)")
            }
        }
    }

    static func key() throws -> EthereumKey {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["EXCHANGE_WALLET_KEY"] ?? environment["EXCHANGE_WALLET_KEY_FILE"].flatMap(SecretFile.read) else {
            throw ValidationError("set EXCHANGE_WALLET_KEY (hex) or EXCHANGE_WALLET_KEY_FILE")
        }
        guard let bytes = Hex.decode(text), let key = try? EthereumKey(bytes: bytes) else { throw ValidationError("the wallet key is not a valid secp256k1 key in hex") }
        return key
    }
}

/// `exchange chain broadcast FILE --rpc URL`
struct ChainBroadcast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast",
        abstract: "Send the signed transaction stored in FILE and wait until it is mined. Sending it again is harmless: the same bytes are one transfer.")

    @OptionGroup var node: RPCOptions
    @Argument(help: "A file `exchange chain sign` wrote.") var file: String
    @Option(help: "Seconds to wait for the transaction to be mined.") var wait: Int = 30

    func run() async throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8), let raw = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), !raw.isEmpty else {
            throw ValidationError("\(file) holds no signed transaction")
        }
        try await runReportingErrors {
            try await node.withNode { chain in
                let hash = try await chain.broadcast(raw)
                let deadline = ContinuousClock.now + .seconds(wait)
                while ContinuousClock.now < deadline {
                    if case .mined(let block, let succeeded) = try await chain.status(ofTransaction: hash) {
                        print("\(hash): mined in block \(block), \(succeeded ? "succeeded" : "REVERTED")")
                        if !succeeded { throw CtlError("the transaction reverted") }
                        return
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                throw CtlError("\(hash) sent, not mined within \(wait) s (broadcast the same file again later)")
            }
        }
    }
}

/// `exchange chain scan --rpc URL --address A … [--from-block N] [--confirmations K]`
struct ChainScan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Follow the chain to its tip with the deposit tracker and print each payment to the addresses, with its state (one JSON object a line).")

    @OptionGroup var node: RPCOptions
    @Option(help: "A watched address (repeatable).") var address: [String]
    @Option(help: "The first block to read.") var fromBlock: UInt64 = 0
    @Option(help: "Blocks (its own included) before a deposit is CONFIRMED.") var confirmations: UInt64 = 3

    func run() async throws {
        guard !address.isEmpty else { throw ValidationError("give at least one --address") }
        for text in address {
            do { _ = try EthereumAddress(parsing: text) } catch { throw ValidationError("--address \(text): \(error)") }
        }
        guard confirmations >= 1 else { throw ValidationError("--confirmations must be at least 1") }
        let watched = Set(address.map { $0.lowercased() })
        try await runReportingErrors {
            try await node.withNode { chain in
                var tracker = DepositTracker(confirmations: confirmations, startBlock: fromBlock)
                let tip = try await chain.latestBlockNumber()
                while tracker.nextBlock <= tip {
                    guard let block = try await chain.block(tracker.nextBlock, paymentsTo: watched) else { break }
                    do {
                        _ = try tracker.apply(block)
                    } catch DepositTrackerError.reorganised {
                        _ = try tracker.rollBack(to: tracker.nextBlock - 2)
                    }
                }
                for deposit in tracker.deposits.values.sorted(by: { ($0.blockNumber, $0.payment.key.description) < ($1.blockNumber, $1.payment.key.description) }) {
                    print(#"{"txHash":"\#(deposit.payment.key.transactionHash)","address":"\#(deposit.payment.address)","wei":"\#(deposit.payment.amount)","block":\#(deposit.blockNumber),"state":"\#(deposit.state.rawValue)"}"#)
                }
            }
        }
    }
}
