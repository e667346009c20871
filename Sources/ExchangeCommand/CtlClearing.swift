import ArgumentParser
import ExchangeClearing
import ExchangeClusterClient
import ExchangeClusterTools
import ExchangeCore
import Foundation

/// `exchange ctl asset add CODE --scale S`
struct CtlAsset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "asset", abstract: "Assets clearing holds.", subcommands: [CtlAssetAdd.self])
}

struct CtlAssetAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register an asset and its precision on every clearing partition.")

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "The asset's code: 1 to 10 of A-Z, 0-9.") var code: String
    @Option(help: "Decimal places of one unit (0 to 18): 8 for BTC in satoshis.") var scale: Int

    func run() async throws {
        guard let asset = AssetCode(code) else { throw ValidationError("invalid asset code '\(code)': 1 to 10 of A-Z, 0-9") }
        let spec: AssetSpec
        do { spec = try AssetSpec(code: asset, scale: scale) } catch { throw ValidationError("\(error)") }
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            try await ClearingAdmin(client: client).addAsset(spec)
            print("asset \(asset): scale \(scale)")
        }
    }
}

/// `exchange ctl symbol add NAME --base B --quote Q --tick T --step S --min-notional N --maker-fee-bps M --taker-fee-bps K`
struct CtlSymbol: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "symbol", abstract: "Markets.", subcommands: [CtlSymbolAdd.self])
}

struct CtlSymbolAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "List a market: on the matching shard the ring gives it and on every clearing partition.",
        discussion: "A tick times a lot must be a whole number of quote units, and a lot a whole number of base units.")

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "The symbol, e.g. BTCUSDT.") var name: String
    @Option(help: "The base asset (what is bought and sold).") var base: String
    @Option(help: "The quote asset (what prices are in).") var quote: String
    @Option(help: "Price increment, in the quote asset.") var tick: String
    @Option(help: "Quantity increment, in the base asset.") var step: String
    @Option(help: "Smallest price × quantity, in the quote asset.") var minNotional: String = "0"
    @Option(help: "Smallest quantity, in lots.") var minLots: Int64 = 1
    @Option(help: "Maker fee in basis points of what the maker receives.") var makerFeeBps: Int
    @Option(help: "Taker fee in basis points of what the taker receives.") var takerFeeBps: Int

    func run() async throws {
        let spec: SymbolSpec
        do {
            spec = try SymbolSpec(
                name: name, tickSize: DecimalNumber(parsing: tick), stepSize: DecimalNumber(parsing: step),
                minimumQuantity: Quantity(lots: minLots), minimumNotional: DecimalNumber(parsing: minNotional))
        } catch {
            throw ValidationError("\(error)")
        }
        guard let baseCode = AssetCode(base), let quoteCode = AssetCode(quote) else { throw ValidationError("invalid asset code") }
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let shard = try await ClearingAdmin(client: client).addSymbol(
                spec, base: baseCode, quote: quoteCode, makerFeeBasisPoints: makerFeeBps, takerFeeBasisPoints: takerFeeBps)
            print("symbol \(name): \(base)/\(quote) on shard \(shard), fees \(makerFeeBps)/\(takerFeeBps) bps")
        }
    }
}

/// `exchange ctl deposit USER ASSET AMOUNT`
struct CtlDeposit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deposit", abstract: "Credit a user through their clearing partition's log; prints the ledger transaction.")

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "The user id.") var user: UInt64
    @Argument(help: "The asset code.") var asset: String
    @Argument(help: "The amount, in the asset (e.g. 0.5).") var amount: String
    @Option(help: "The wallet's reference for this deposit.") var reference: UInt64 = 0
    @Option(help: "Seconds to wait for the partition's answer.") var timeout: Int = 10

    func run() async throws {
        guard let code = AssetCode(asset) else { throw ValidationError("invalid asset code '\(asset)'") }
        let decimal: DecimalNumber
        do { decimal = try DecimalNumber(parsing: amount) } catch { throw ValidationError("amount '\(amount)': \(error)") }
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let admin = ClearingAdmin(client: client)
            let units = try await admin.units(decimal, of: code)
            let submission = try await admin.deposit(user: user, asset: code, units: units, reference: reference, timeout: .seconds(timeout))
            guard let events = submission.events else {
                throw CtlError("appended to partition \(submission.partition) at \(submission.position); no answer within \(timeout) s (is a clearing primary running?)")
            }
            for event in events {
                switch event {
                case .transaction(let transaction):
                    print("deposited \(amount) \(code) to user \(user): partition \(submission.partition), transaction \(transaction.id)")
                case .rejected(_, let reason):
                    throw CtlError("partition \(submission.partition) rejected the deposit: \(reason)")
                default:
                    break
                }
            }
        }
    }
}

/// A failure to report as one line and exit 1.
struct CtlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
