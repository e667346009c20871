import ExchangeClearing
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeWallet
import ExchangeWalletStore
import Foundation
import Hummingbird

/// Deposits and withdrawals the Binance way (`/sapi/v1/capital/…`, signed with an API key:
/// `read` for addresses and histories, `withdraw` to withdraw) and the native withdrawal
/// whitelist (`/api/v1/me/withdrawal-addresses`, a logged-in session). The wallet role does
/// the chain work; these read and write its tables.
extension Gateway {
    var wallet: WalletStore { WalletStore(postgres: users.postgres, logger: logger) }

    func addWalletRoutes(to router: Router<GatewayRequestContext>) {
        let capital = router.group("sapi/v1/capital")
        capital.get("deposit/address") { request, context in
            var request = request
            return try await self.depositAddress(&request, context: context)
        }
        capital.get("deposit/hisrec") { request, context in
            var request = request
            return try await self.depositHistory(&request, context: context)
        }
        capital.post("withdraw/apply") { request, context in
            var request = request
            return try await self.applyWithdrawal(&request, context: context)
        }
        capital.get("withdraw/history") { request, context in
            var request = request
            return try await self.withdrawalHistory(&request, context: context)
        }
        let me = router.group("api/v1/me")
        me.get("deposit-address") { request, _ in try await self.nativeDepositAddress(request) }
        me.get("deposits") { request, _ in try await self.nativeDeposits(request) }
        me.get("withdrawals") { request, _ in try await self.nativeWithdrawals(request) }
        me.post("withdrawals") { request, context in
            var request = request
            return try await self.nativeWithdraw(&request, context: context)
        }
        me.get("withdrawal-addresses") { request, _ in try await self.listWhitelist(request) }
        me.post("withdrawal-addresses") { request, context in
            var request = request
            return try await self.addWhitelisted(&request, context: context)
        }
        me.delete("withdrawal-addresses") { request, _ in
            var request = request
            return try await self.removeWhitelisted(&request)
        }
    }

    /// The wallet's errors in the -4xxx range (documented in docs/wallet.md), amounts in the
    /// coin's decimals (`scale`; units when unknown); insufficient balance with Binance's -2010
    /// wording, so clients map it to InsufficientFunds.
    static func walletError(_ error: any Error, coin: String = "", scale: Int? = nil) -> any Error {
        guard let error = error as? WalletRequestError else { return error }
        let amount = { (units: Int64) in scale.map { "\(BinanceDecimal.text(units: units, scale: $0)) \(coin)" } ?? "\(units) units" }
        switch error {
        case .unknownAsset(let asset): return BinanceError.invalidParameter("coin", "\(asset) cannot be deposited or withdrawn here.")
        case .malformedAddress(let why): return BinanceError.invalidParameter("address", why)
        case .paused(let why): return BinanceError(code: -4019, message: "Withdrawals of this coin are paused: \(why)")
        case .refused(let refusal):
            switch refusal {
            case .belowMinimum(let minimum): return BinanceError(code: -4006, message: "The withdrawal amount is below the minimum of \(amount(minimum)).")
            case .addressNotWhitelisted: return BinanceError(code: -4013, message: "The address is not on your withdrawal whitelist.")
            case .addressCooling(let until):
                let time = Date(timeIntervalSince1970: Double(until) / 1000).formatted(.iso8601)
                return BinanceError(code: -4014, message: "The address was whitelisted recently: it can receive from \(time).")
            case .overDailyLimit(let remaining):
                return BinanceError(code: -4017, message: "The withdrawal exceeds your daily limit: \(amount(remaining)) remain for the next 24 hours.")
            case .overflow: return BinanceError.invalidParameter("amount", "too large.")
            }
        }
    }

    func depositAddress(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 10)
        guard let coin = signed.parameters["coin"] else { throw BinanceError.mandatory("coin") }
        do {
            let address = try await wallet.depositAddress(user: Int64(signed.key.userID), asset: coin)
            return JSONValue.object([("address", .string(address)), ("coin", .string(coin)), ("tag", ""), ("url", "")]).response(headers: signed.usage.headers)
        } catch {
            throw Self.walletError(error)
        }
    }

    /// Binance's deposit status: 0 pending, 6 credited (not yet final), 1 success; a
    /// cancelled one (a reorganisation removed it) is 7, "wrong deposit".
    static func binanceDepositStatus(_ state: String) -> Int64 {
        switch state {
        case "COMPLETED": 1
        case "CREDITED": 6
        case "CANCELLED": 7
        default: 0
        }
    }

    /// The `coin` filter of a history: nil when absent, else an asset code (-1100 if not one:
    /// it goes into a PostgreSQL query, whose text holds no NUL).
    static func coinFilter(_ text: String?) throws -> String? {
        guard let text else { return nil }
        guard AssetCode(text) != nil else { throw BinanceError.invalidParameter("coin", "an asset code is 1 to 10 characters A-Z and 0-9.") }
        return text
    }

    /// A trader's `withdrawOrderId`: nil when absent; -1100 if it holds a NUL (PostgreSQL's
    /// text cannot).
    static func withdrawalClientID(_ parameters: RequestParameters) throws -> String? {
        guard let text = parameters["withdrawOrderId"] else { return nil }
        guard !text.utf8.contains(0) else { throw BinanceError.invalidParameter("withdrawOrderId", "it holds a NUL character.") }
        return text
    }

    func depositHistory(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 1)
        let parameters = signed.parameters
        let (offset, limit) = try Self.page(parameters)
        let scales = try await markets.snapshot().assetScales
        let confirmations = Dictionary(try await wallet.assets().map { ($0.asset, $0.confirmations) }) { first, _ in first }
        let deposits = try await wallet.deposits(
            user: Int64(signed.key.userID), asset: try Self.coinFilter(parameters["coin"]), fromMilliseconds: try parameters.int64("startTime"),
            toMilliseconds: try parameters.int64("endTime"), offset: offset, limit: limit)
        let status = try parameters.int64("status")
        return JSONValue.array(deposits.filter { status == nil || Self.binanceDepositStatus($0.state) == status }.map { deposit in
            let needed = confirmations[deposit.asset] ?? 1
            return .object([
                ("id", .string(String(deposit.id))), ("amount", .string(BinanceDecimal.text(units: deposit.units, scale: scales[deposit.asset] ?? 8))),
                ("coin", .string(deposit.asset)), ("network", .string(deposit.chain.uppercased())), ("status", .integer(Self.binanceDepositStatus(deposit.state))),
                ("address", .string(deposit.address)), ("addressTag", ""), ("txId", .string(deposit.transactionHash)),
                ("insertTime", .integer(deposit.insertedMilliseconds)), ("transferType", 0),
                ("confirmTimes", .string(deposit.state == "PENDING" ? "0/\(needed)" : "\(needed)/\(needed)")), ("unlockConfirm", 0), ("walletType", 0),
                ("state", .string(deposit.state)),
            ])
        }).response(headers: signed.usage.headers)
    }

    static func page(_ parameters: RequestParameters) throws -> (offset: Int, limit: Int) {
        let offset = try parameters.int64("offset") ?? 0
        let limit = try parameters.int64("limit") ?? 1000
        guard offset >= 0 else { throw BinanceError.invalidParameter("offset", "must be 0 or more.") }
        guard (1...1000).contains(limit) else { throw BinanceError.invalidParameter("limit", "must be within 1...1000.") }
        return (Int(offset), Int(limit))
    }

    func applyWithdrawal(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .withdraw, weight: 600)
        let parameters = signed.parameters
        guard let coin = parameters["coin"] else { throw BinanceError.mandatory("coin") }
        guard let address = parameters["address"] else { throw BinanceError.mandatory("address") }
        guard let amount = parameters["amount"] else { throw BinanceError.mandatory("amount") }
        let id = try await requestWithdrawal(
            user: signed.key.userID, coin: coin, address: address, amount: amount, clientID: try Self.withdrawalClientID(parameters))
        return JSONValue.object([("id", .string(String(id)))]).response(headers: signed.usage.headers)
    }

    /// Stores a withdrawal request of `user` and waits (up to 5 s) for clearing to freeze
    /// amount + fee through the wallet; insufficient balance is -2010, as Binance answers it.
    func requestWithdrawal(user: UserID, coin: String, address: String, amount amountText: String, clientID: String?) async throws -> Int64 {
        guard let scale = try await markets.snapshot().assetScales[coin] else { throw BinanceError.invalidParameter("coin", "\(coin) cannot be withdrawn here.") }
        guard let code = AssetCode(coin), let spec = try? AssetSpec(code: code, scale: scale), let decimal = try? DecimalNumber(parsing: amountText),
              let units = spec.units(of: decimal), units > 0 else {
            throw BinanceError.invalidParameter("amount", "a positive amount of \(coin) with at most \(scale) decimals.")
        }
        let id: Int64
        do {
            id = try await wallet.requestWithdrawal(
                user: Int64(user), asset: coin, amount: units, address: address, clientID: clientID, nowMilliseconds: WallClock.milliseconds())
        } catch {
            throw Self.walletError(error, coin: coin, scale: scale)
        }
        if let view = try await wallet.settledWithdrawal(id, timeout: .seconds(5)), view.record.state == .failed, view.record.broadcasts == 0,
           view.record.failure == WalletStore.insufficientBalance {
            throw BinanceError.insufficientBalance
        }
        return id
    }

    /// Binance's withdrawal status: 2 awaiting approval, 4 processing, 6 completed, 5 failure
    /// (3 rejected when staff refused it). A withdrawal confirmed on chain stays 4 while the
    /// wallet still owes clearing its completion (queued or sent), so 6 comes once clearing
    /// has taken the amount out of the locked balance (the account's view follows its output);
    /// a completion clearing refused is an operator's case and shows 6. (`state` is the
    /// wallet's own: COMPLETED once the chain confirmed it.)
    static func binanceWithdrawalStatus(_ view: WithdrawalView) -> Int64 {
        let record = view.record
        switch record.state {
        case .holding, .pending: return 2
        case .approved, .processing, .onChain: return 4
        case .completed: return view.completionPending ? 4 : 6
        case .failed: return record.failure?.hasPrefix("refused by") == true ? 3 : 5
        }
    }

    func withdrawalHistory(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let signed = try await signed(&request, context: context, needs: .read, weight: 1)
        let parameters = signed.parameters
        let (offset, limit) = try Self.page(parameters)
        let scales = try await markets.snapshot().assetScales
        let views = try await wallet.withdrawals(
            user: Int64(signed.key.userID), asset: try Self.coinFilter(parameters["coin"]), clientID: try Self.withdrawalClientID(parameters),
            fromMilliseconds: try parameters.int64("startTime"), toMilliseconds: try parameters.int64("endTime"), offset: offset, limit: limit)
        let status = try parameters.int64("status")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        func time(_ milliseconds: Int64) -> String { formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000)) }
        return JSONValue.array(views.filter { status == nil || Self.binanceWithdrawalStatus($0) == status }.map { view in
            let record = view.record
            let scale = scales[record.asset] ?? 8
            var fields: [(String, JSONValue)] = [
                ("id", .string(String(record.id))), ("amount", .string(BinanceDecimal.text(units: record.amount, scale: scale))),
                ("transactionFee", .string(BinanceDecimal.text(units: record.fee, scale: scale))), ("coin", .string(record.asset)),
                ("status", .integer(Self.binanceWithdrawalStatus(view))), ("address", .string(record.address)),
                ("txId", .string(record.transactionHash ?? "")), ("applyTime", .string(time(view.createdMilliseconds))),
                ("network", "ETH"), ("transferType", 0), ("info", .string(record.failure ?? "")), ("confirmNo", .integer(Int64(record.blockNumber == nil ? 0 : 1))),
                ("walletType", 0), ("txKey", ""), ("state", .string(record.state.rawValue)),
            ]
            if let clientID = view.clientID { fields.append(("withdrawOrderId", .string(clientID))) }
            if Self.binanceWithdrawalStatus(view) == 6 { fields.append(("completeTime", .string(time(view.updatedMilliseconds)))) }
            return .object(fields)
        }).response(headers: signed.usage.headers)
    }

    // MARK: The whitelist (native)

    func listWhitelist(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        return JSONValue.array(try await wallet.whitelist(user: Int64(user)).map { item in
            .object([
                ("coin", .string(item.asset)), ("address", .string(item.entry.address)), ("label", .string(item.label)),
                ("addedAt", .integer(item.entry.addedAtMilliseconds)),
            ])
        }).response()
    }

    func addWhitelisted(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let body = try await jsonBody(&request)
        guard let coin = body["coin"] as? String else { throw BinanceError.mandatory("coin") }
        guard let address = body["address"] as? String else { throw BinanceError.mandatory("address") }
        let label = body["label"] as? String ?? ""
        let added: Bool
        do { added = try await wallet.whitelist(user: Int64(user), asset: coin, address: address, label: label) } catch { throw Self.walletError(error) }
        if added { await audit("wallet.whitelist.add", user: user, ip: context.clientIP, target: "\(coin) \(address.lowercased())") }
        return JSONValue.object([("coin", .string(coin)), ("address", .string(address.lowercased())), ("added", .bool(added))]).response()
    }

    func removeWhitelisted(_ request: inout Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        guard let coin = request.uri.queryParameters.get("coin"), let address = request.uri.queryParameters.get("address") else {
            throw BinanceError.mandatory("coin and address")
        }
        guard !address.utf8.contains(0) else { throw BinanceError.invalidParameter("address", "an address without NUL characters.") }
        guard let asset = try Self.coinFilter(coin) else { throw BinanceError.notFoundEntity }
        guard try await wallet.removeWhitelisted(user: Int64(user), asset: asset, address: address) else { throw BinanceError.notFoundEntity }
        return JSONValue.object([("removed", true)]).response()
    }

    // MARK: The native API (a logged-in session)

    func nativeDepositAddress(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        guard let coin = request.uri.queryParameters.get("coin") else { throw BinanceError.mandatory("coin") }
        do {
            let address = try await wallet.depositAddress(user: Int64(user), asset: coin)
            return JSONValue.object([("coin", .string(coin)), ("address", .string(address))]).response()
        } catch {
            throw Self.walletError(error)
        }
    }

    func nativeDeposits(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        let scales = try await markets.snapshot().assetScales
        let deposits = try await wallet.deposits(
            user: Int64(user), asset: try Self.coinFilter(request.uri.queryParameters.get("coin")), fromMilliseconds: nil, toMilliseconds: nil,
            offset: 0, limit: 500)
        return JSONValue.array(deposits.map { deposit in
            .object([
                ("id", .integer(deposit.id)), ("coin", .string(deposit.asset)), ("amount", .string(BinanceDecimal.text(units: deposit.units, scale: scales[deposit.asset] ?? 8))),
                ("address", .string(deposit.address)), ("txHash", .string(deposit.transactionHash)), ("state", .string(deposit.state)),
                ("blockNumber", .integer(deposit.blockNumber)), ("createdAt", .integer(deposit.insertedMilliseconds)),
            ])
        }).response()
    }

    func nativeWithdrawals(_ request: Request) async throws -> Response {
        let user = try await authenticatedUser(request)
        let scales = try await markets.snapshot().assetScales
        let coin = try Self.coinFilter(request.uri.queryParameters.get("coin"))
        return JSONValue.array(try await wallet.withdrawals(user: Int64(user), asset: coin, limit: 500).map { view in
            let record = view.record
            let scale = scales[record.asset] ?? 8
            return .object([
                ("id", .unsigned(record.id)), ("coin", .string(record.asset)), ("amount", .string(BinanceDecimal.text(units: record.amount, scale: scale))),
                ("fee", .string(BinanceDecimal.text(units: record.fee, scale: scale))), ("address", .string(record.address)),
                ("state", .string(record.state.rawValue)), ("txHash", record.transactionHash.map { .string($0) } ?? .null),
                ("failure", record.failure.map { .string($0) } ?? .null), ("clientId", view.clientID.map { .string($0) } ?? .null),
                ("createdAt", .integer(view.createdMilliseconds)), ("updatedAt", .integer(view.updatedMilliseconds)),
            ])
        }).response()
    }

    /// `POST /api/v1/me/withdrawals {coin, address, amount, clientId?, totp}`: a session
    /// withdraws only with its second factor (enabled, and a fresh code).
    func nativeWithdraw(_ request: inout Request, context: GatewayRequestContext) async throws -> Response {
        let user = try await authenticatedUser(request)
        let body = try await jsonBody(&request)
        guard let code = body["totp"] as? String else { throw BinanceError.secondFactorRequired }
        switch try await users.secondFactors.check(Int64(bitPattern: user), code: code, nowSeconds: WallClock.milliseconds() / 1_000) {
        case nil: throw BinanceError.secondFactorNeededToWithdraw
        case false?: throw BinanceError.badSecondFactor
        case true?: break
        }
        guard let coin = body["coin"] as? String else { throw BinanceError.mandatory("coin") }
        guard let address = body["address"] as? String else { throw BinanceError.mandatory("address") }
        guard let amount = body["amount"] as? String else { throw BinanceError.mandatory("amount") }
        let id = try await requestWithdrawal(user: user, coin: coin, address: address, amount: amount, clientID: body["clientId"] as? String)
        await audit("wallet.withdraw", user: user, ip: context.clientIP, target: "withdrawal:\(id)")
        return JSONValue.object([("id", .integer(id))]).response(status: .created)
    }
}
