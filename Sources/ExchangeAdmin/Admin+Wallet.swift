import ExchangeCore
import ExchangeHTTPAPI
import ExchangeWallet
import ExchangeWalletStore
import Hummingbird

/// Staff's side of the wallet: withdrawals waiting for approval (one staff member, or two
/// different ones above the higher limit), refusals (the freeze released), and the adjustment
/// cases a deep reorganisation opened. Each action is audited with the record before and after.
extension Admin {
    var wallet: WalletStore { WalletStore(postgres: postgres, logger: logger) }

    static func json(_ view: WithdrawalView) -> JSONValue {
        let record = view.record
        return .object([
            ("id", .unsigned(record.id)), ("userId", .unsigned(record.user)), ("asset", .string(record.asset)), ("amountUnits", .integer(record.amount)),
            ("feeUnits", .integer(record.fee)), ("address", .string(record.address)), ("state", .string(record.state.rawValue)),
            ("approvalsNeeded", .integer(Int64(record.approvalsNeeded))), ("approvedBy", .array(record.approvedBy.map { .string($0) })),
            ("txHash", record.transactionHash.map { .string($0) } ?? .null), ("failure", record.failure.map { .string($0) } ?? .null),
            ("createdAt", .integer(view.createdMilliseconds)), ("updatedAt", .integer(view.updatedMilliseconds)),
        ])
    }

    /// `GET withdrawals[?state=PENDING&user=ID]`: newest first, at most 500.
    func listWithdrawals(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let states = query.get("state").map { [$0.uppercased()] }
        if let state = states?.first, WithdrawalState(rawValue: state) == nil { throw BinanceError.invalidRequest("Unknown state \(state).") }
        let user = try query.get("user").map { text -> Int64 in
            guard let id = Int64(text) else { throw BinanceError.invalidRequest("user must be a user id.") }
            return id
        }
        return JSONValue.array(try await wallet.withdrawals(user: user, states: states, limit: 500).map(Self.json)).response()
    }

    /// A transition by `call.member`, audited; a refused one is 409 with why.
    func withdrawalAction(_ call: AdminCall, _ action: String, _ transition: @escaping @Sendable (inout WithdrawalRecord) throws -> Bool) async throws -> Response {
        let id = try call.id("id")
        guard let before = try await wallet.withdrawal(id) else { throw BinanceError.notFoundEntity }
        do {
            try await wallet.transition(id, transition)
        } catch {
            throw BinanceError.conflict("\(WalletStoreError.underlying(error))")
        }
        guard let after = try await wallet.withdrawal(id) else { throw BinanceError.notFoundEntity }
        try await audit(call.member, action, target: "withdrawal:\(id)", ip: call.ip, before: Self.json(before), after: Self.json(after))
        return Self.json(after).response()
    }

    func approveWithdrawal(_ call: AdminCall) async throws -> Response {
        let staff = call.member.email
        return try await withdrawalAction(call, "wallet.withdrawal.approve") { record in
            try record.approve(by: staff)
            return false
        }
    }

    /// `POST withdrawals/{id}/reject {reason}`: FAILED, the freeze released through clearing.
    func rejectWithdrawal(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let reason = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes).string("reason")
        let failure = "refused by \(call.member.email): \(reason)"
        return try await withdrawalAction(call, "wallet.withdrawal.reject") { record in try record.fail(failure) }
    }

    func listWalletCases() async throws -> Response {
        JSONValue.array(try await wallet.openCases().map { item in
            .object([("id", .integer(item.id)), ("depositId", .integer(item.deposit)), ("detail", .string(item.detail)), ("openedAt", .integer(item.openedMilliseconds))])
        }).response()
    }

    /// `POST wallet/cases/{id}/resolve {resolution}`: what staff did about it (an adjustment
    /// goes through clearing's `adjust`, outside this record).
    func resolveWalletCase(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let id = try call.id("id")
        let resolution = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes).string("resolution")
        guard try await wallet.resolveCase(id, by: call.member.email, resolution: resolution) else { throw BinanceError.notFoundEntity }
        try await audit(call.member, "wallet.case.resolve", target: "case:\(id)", ip: call.ip, after: .object([("resolution", .string(resolution))]))
        return JSONValue.object([("id", .integer(id)), ("resolved", true)]).response()
    }
}
