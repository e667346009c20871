import ExchangeCore

/// The funds of one clearing partition's users, as a deterministic state machine: apply
/// `ClearingInput`s in log order, get `ClearingEvent`s.
///
/// Every change of a balance is a `LedgerTransaction` whose entries sum to zero per asset,
/// committed whole or not at all: a command that would overdraw an account, overflow 64
/// bits or break a rule is rejected and changes nothing. Invariants (`checkInvariants()`):
/// per asset all accounts sum to zero; no user balance or fee account is negative; each
/// user's frozen amount of an asset equals what their open orders and pending withdrawals
/// hold of it.
public struct ClearingState: Sendable {
    /// A user's holdings of one asset, in units.
    public struct Balance: Hashable, Sendable {
        public var available: Int64
        public var frozen: Int64

        public init(available: Int64 = 0, frozen: Int64 = 0) {
            self.available = available
            self.frozen = frozen
        }
    }

    public struct AccountKey: Hashable, Comparable, Sendable {
        public var user: UserID
        public var asset: AssetCode

        public init(user: UserID, asset: AssetCode) {
            self.user = user
            self.asset = asset
        }
        public static func < (lhs: AccountKey, rhs: AccountKey) -> Bool { (lhs.user, lhs.asset) < (rhs.user, rhs.asset) }
    }

    /// An order clearing froze funds for and the matcher has not ended yet.
    public struct OpenOrder: Hashable, Sendable {
        public var userID: UserID
        public var symbol: String
        public var side: OrderSide
        /// The limit price (`.absent` for a market order).
        public var price: Price
        /// The asset frozen: quote for buys, base for sells.
        public var asset: AssetCode
        /// Units still frozen for it.
        public var frozen: Int64
    }

    public struct PendingWithdrawal: Hashable, Sendable {
        public var user: UserID
        public var asset: AssetCode
        public var amount: Int64
    }

    /// The partition's own accounts (not a user's), per asset.
    public struct SystemKey: Hashable, Comparable, Sendable {
        public var account: LedgerAccount
        public var asset: AssetCode
        public static func < (lhs: SystemKey, rhs: SystemKey) -> Bool { (lhs.account, lhs.asset) < (rhs.account, rhs.asset) }
    }

    public internal(set) var assets: [AssetCode: AssetSpec] = [:]
    public internal(set) var symbols: [String: ClearingSymbol] = [:]
    public internal(set) var balances: [AccountKey: Balance] = [:]
    /// Fees, external, adjustments and settlement balances.
    public internal(set) var systemBalances: [SystemKey: Int64] = [:]
    public internal(set) var openOrders: [OrderID: OpenOrder] = [:]
    public internal(set) var withdrawals: [UInt64: PendingWithdrawal] = [:]
    /// The last position applied per producer (repeats at or below it are dropped).
    public internal(set) var lastPositions: [ProducerID: UInt64] = [:]
    /// The id the next transaction gets.
    public internal(set) var nextTransactionID: UInt64 = 1

    public init() {}

    public func balance(of user: UserID, _ asset: AssetCode) -> Balance { balances[AccountKey(user: user, asset: asset)] ?? Balance() }
    public func systemBalance(_ account: LedgerAccount, _ asset: AssetCode) -> Int64 { systemBalances[SystemKey(account: account, asset: asset)] ?? 0 }

    // MARK: Applying

    /// Applies `input` unless its producer already got past its position.
    public mutating func apply(_ input: ClearingInput) -> [ClearingEvent] {
        if let last = lastPositions[input.producer], input.position <= last {
            return [.duplicateInput(producer: input.producer, position: input.position)]
        }
        lastPositions[input.producer] = input.position
        var events: [ClearingEvent] = []
        for (index, command) in input.commands.enumerated() {
            let cause = ClearingCause(producer: input.producer, position: input.position, index: index)
            do {
                try apply(command, cause: cause, into: &events)
            } catch {
                events.append(.rejected(cause: cause, reason: error))
            }
        }
        return events
    }

    mutating func apply(_ command: ClearingCommand, cause: ClearingCause, into events: inout [ClearingEvent]) throws(ClearingRejection) {
        switch command {
        case .addAsset(let spec):
            guard assets[spec.code] == nil else { throw .alreadyExists }
            assets[spec.code] = spec
            events.append(.assetAdded(spec.code))
        case .addSymbol(let symbol):
            guard symbols[symbol.name] == nil else { throw .alreadyExists }
            guard assets[symbol.base] != nil, assets[symbol.quote] != nil else { throw .unknownAsset }
            symbols[symbol.name] = symbol
            events.append(.symbolAdded(symbol.name))
        case .setSymbolStatus(let name, let status):
            guard symbols[name] != nil else { throw .unknownSymbol }
            symbols[name]!.status = status
            events.append(.symbolStatusChanged(name, status))
        case .setSymbolParameters(let name, let maker, let taker, let minimumNotional):
            guard symbols[name] != nil else { throw .unknownSymbol }
            do {
                try symbols[name]!.setParameters(makerBasisPoints: maker, takerBasisPoints: taker, minimumNotionalUnits: minimumNotional)
            } catch {
                throw .invalidAmount
            }
            events.append(.symbolParametersChanged(name, makerBasisPoints: maker, takerBasisPoints: taker, minimumNotionalUnits: minimumNotional))
        case .deposit(let user, let asset, let amount, _):
            try requireAsset(asset)
            guard amount > 0 else { throw .invalidAmount }
            events.append(.transaction(try commit(.deposit, cause: cause, [
                LedgerEntry(account: .external, asset: asset, amount: -amount),
                LedgerEntry(account: .available(user), asset: asset, amount: amount),
            ])))
        case .holdWithdrawal(let id, let user, let asset, let amount):
            try requireAsset(asset)
            guard amount > 0 else { throw .invalidAmount }
            guard withdrawals[id] == nil else { throw .duplicateWithdrawal }
            let transaction = try commit(.withdrawalHold, cause: cause, Self.freezing(amount, of: asset, for: user))
            withdrawals[id] = PendingWithdrawal(user: user, asset: asset, amount: amount)
            events.append(.transaction(transaction))
        case .completeWithdrawal(let id):
            guard let pending = withdrawals[id] else { throw .unknownWithdrawal }
            let transaction = try commit(.withdrawalComplete, cause: cause, [
                LedgerEntry(account: .frozen(pending.user), asset: pending.asset, amount: -pending.amount),
                LedgerEntry(account: .external, asset: pending.asset, amount: pending.amount),
            ])
            withdrawals[id] = nil
            events.append(.transaction(transaction))
        case .releaseWithdrawal(let id):
            guard let pending = withdrawals[id] else { throw .unknownWithdrawal }
            let transaction = try commit(.withdrawalRelease, cause: cause, Self.freezing(-pending.amount, of: pending.asset, for: pending.user))
            withdrawals[id] = nil
            events.append(.transaction(transaction))
        case .place(let order):
            try place(order, cause: cause, into: &events)
        case .cancel(let orderID, let userID):
            guard let open = openOrders[orderID], open.userID == userID else { throw .unknownOrder }
            events.append(.forwardCancel(orderID: orderID, userID: userID, symbol: open.symbol))
        case .orderEnded(let orderID, let userID):
            guard let open = openOrders[orderID], open.userID == userID else { throw .unknownOrder }
            if open.frozen > 0 {
                events.append(.transaction(try commit(
                    .orderRelease, cause: cause, Self.freezing(-open.frozen, of: open.asset, for: userID),
                    memo: LedgerTransaction.orderEndedMemo(orderID))))
            }
            openOrders[orderID] = nil
        case .orderAmended(let orderID, let userID, let releasedLots):
            guard var open = openOrders[orderID], open.userID == userID else { throw .unknownOrder }
            guard releasedLots > 0, open.price != .absent, let symbol = symbols[open.symbol] else { throw .invalidOrder }
            let share = open.side == .buy ? symbol.quoteUnits(ticks: open.price.ticks, lots: releasedLots) : symbol.baseUnits(lots: releasedLots)
            guard let share else { throw .overflow }
            // What is released never exceeds what is still frozen (trades at better prices spent less).
            let released = min(share, open.frozen)
            if released > 0 {
                events.append(.transaction(try commit(.orderRelease, cause: cause, Self.freezing(-released, of: open.asset, for: userID))))
            }
            open.frozen -= released
            openOrders[orderID] = open
        case .tradeLeg(let leg):
            events.append(.transaction(try settle(leg, cause: cause)))
        case .adjust(let user, let asset, let amount, let reason):
            try requireAsset(asset)
            guard amount != 0 else { throw .invalidAmount }
            events.append(.transaction(try commit(.adjustment, cause: cause, [
                LedgerEntry(account: .adjustments, asset: asset, amount: -amount),
                LedgerEntry(account: .available(user), asset: asset, amount: amount),
            ], memo: reason)))
        }
    }

    private func requireAsset(_ asset: AssetCode) throws(ClearingRejection) {
        guard assets[asset] != nil else { throw .unknownAsset }
    }

    /// Entries moving `amount` of `asset` from `user`'s available to frozen (negative: back).
    static func freezing(_ amount: Int64, of asset: AssetCode, for user: UserID) -> [LedgerEntry] {
        [LedgerEntry(account: .available(user), asset: asset, amount: -amount), LedgerEntry(account: .frozen(user), asset: asset, amount: amount)]
    }

    /// Freezes the order's funds and forwards it, or rejects it.
    ///
    /// A buy freezes quote: a limit its price × quantity; a market buy its `quoteBudget`, or
    /// for a market buy by quantity the user's whole available quote balance. A sell freezes
    /// its base quantity. The minimum notional is checked on price × quantity for limits and
    /// on the budget for market buys; a market sell's value is not known before matching.
    mutating func place(_ order: ClearingOrder, cause: ClearingCause, into events: inout [ClearingEvent]) throws(ClearingRejection) {
        guard let symbol = symbols[order.symbol] else { throw .unknownSymbol }
        guard symbol.status == .trading else { throw .symbolHalted }
        guard order.quantity.lots > 0 else { throw .invalidOrder }
        switch order.type {
        case .limit: guard order.price != .absent, order.price.ticks > 0 else { throw .invalidOrder }
        case .market: guard order.price == .absent else { throw .invalidOrder }
        }
        guard openOrders[order.orderID] == nil else { throw .duplicateOrder }
        var forwarded = order
        let asset: AssetCode
        let amount: Int64
        switch (order.side, order.type) {
        case (.sell, _):
            asset = symbol.base
            guard let base = symbol.baseUnits(lots: order.quantity.lots) else { throw .overflow }
            amount = base
            if order.type == .limit {
                guard let notional = symbol.quoteUnits(ticks: order.price.ticks, lots: order.quantity.lots) else { throw .overflow }
                guard notional >= symbol.minimumNotionalUnits else { throw .belowMinimumNotional }
            }
            forwarded.quoteBudget = nil
        case (.buy, .limit):
            asset = symbol.quote
            guard let quote = symbol.quoteUnits(ticks: order.price.ticks, lots: order.quantity.lots) else { throw .overflow }
            guard quote >= symbol.minimumNotionalUnits else { throw .belowMinimumNotional }
            amount = quote
            forwarded.quoteBudget = nil
        case (.buy, .market):
            asset = symbol.quote
            if let budget = order.quoteBudget {
                guard budget > 0 else { throw .invalidAmount }
                amount = budget
            } else {
                amount = balance(of: order.userID, symbol.quote).available
                guard amount > 0 else { throw .insufficientFunds }
            }
            guard amount >= symbol.minimumNotionalUnits else { throw .belowMinimumNotional }
            // The matcher reads a zero budget as none: a budget must buy at least a tick × lot.
            guard amount >= symbol.quoteUnitsPerTickLot else { throw .budgetTooSmall }
            forwarded.quoteBudget = amount
        }
        let transaction = try commit(
            .orderFreeze, cause: cause, Self.freezing(amount, of: asset, for: order.userID), memo: LedgerTransaction.orderFrozenMemo(order.orderID))
        openOrders[order.orderID] = OpenOrder(
            userID: order.userID, symbol: order.symbol, side: order.side, price: order.type == .limit ? order.price : .absent,
            asset: asset, frozen: amount)
        events.append(.transaction(transaction))
        let tickLotBudget = forwarded.quoteBudget.map { $0 / symbol.quoteUnitsPerTickLot } ?? 0
        events.append(.forward(forwarded, tickLotBudget: tickLotBudget))
    }

    /// Settles one side of a trade: the given asset leaves the order's frozen funds into
    /// settlement, the received asset comes out of settlement into available, less the
    /// maker or taker fee (rounded up to a unit), which goes to the fee account.
    mutating func settle(_ leg: TradeLeg, cause: ClearingCause) throws(ClearingRejection) -> LedgerTransaction {
        guard var open = openOrders[leg.orderID], open.userID == leg.userID else { throw .unknownOrder }
        guard let symbol = symbols[open.symbol] else { throw .unknownSymbol }
        guard leg.quantity.lots > 0, leg.price.ticks > 0 else { throw .invalidOrder }
        guard let quote = symbol.quoteUnits(ticks: leg.price.ticks, lots: leg.quantity.lots),
              let base = symbol.baseUnits(lots: leg.quantity.lots) else { throw .overflow }
        let (given, received, receivedAsset) = open.side == .buy ? (quote, base, symbol.base) : (base, quote, symbol.quote)
        guard given <= open.frozen else { throw .exceedsFrozen }
        let fee = ClearingSymbol.fee(on: received, basisPoints: leg.isMaker ? symbol.makerFeeBasisPoints : symbol.takerFeeBasisPoints)
        var entries = [
            LedgerEntry(account: .frozen(leg.userID), asset: open.asset, amount: -given),
            LedgerEntry(account: .settlement, asset: open.asset, amount: given),
            LedgerEntry(account: .settlement, asset: receivedAsset, amount: -received),
            LedgerEntry(account: .available(leg.userID), asset: receivedAsset, amount: received - fee),
        ]
        if fee > 0 { entries.append(LedgerEntry(account: .fees, asset: receivedAsset, amount: fee)) }
        let transaction = try commit(.tradeSettlement, cause: cause, entries, memo: "\(open.symbol) trade \(leg.tradeID)")
        open.frozen -= given
        openOrders[leg.orderID] = open
        return transaction
    }

    /// Applies `entries` as one transaction, or nothing: refuses a result that overflows, a
    /// negative user balance (`insufficientFunds`) or fee account.
    mutating func commit(
        _ kind: LedgerTransaction.Kind, cause: ClearingCause, _ entries: [LedgerEntry], memo: String = ""
    ) throws(ClearingRejection) -> LedgerTransaction {
        var users: [AccountKey: Balance] = [:]
        var system: [SystemKey: Int64] = [:]
        for entry in entries {
            switch entry.account {
            case .available(let user), .frozen(let user):
                let key = AccountKey(user: user, asset: entry.asset)
                var balance = users[key] ?? balance(of: user, entry.asset)
                if case .available = entry.account {
                    balance.available = try Self.adding(balance.available, entry.amount)
                } else {
                    balance.frozen = try Self.adding(balance.frozen, entry.amount)
                }
                guard balance.available >= 0, balance.frozen >= 0 else { throw .insufficientFunds }
                users[key] = balance
            case .fees, .external, .adjustments, .settlement:
                let key = SystemKey(account: entry.account, asset: entry.asset)
                let value = try Self.adding(system[key] ?? systemBalances[key] ?? 0, entry.amount)
                if entry.account == .fees, value < 0 { throw .insufficientFunds }
                system[key] = value
            }
        }
        for (key, balance) in users { balances[key] = balance }
        for (key, value) in system { systemBalances[key] = value }
        defer { nextTransactionID += 1 }
        return LedgerTransaction(id: nextTransactionID, cause: cause, kind: kind, entries: entries, memo: memo)
    }

    static func adding(_ a: Int64, _ b: Int64) throws(ClearingRejection) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw .overflow }
        return sum
    }
}

extension ClearingRejection: Error {}
