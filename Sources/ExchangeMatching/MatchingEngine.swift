import ExchangeCore

/// The matching state machine: many symbols' books, price-time priority, no I/O.
///
/// Feed it commands in log order with `apply(_:into:)`; it appends what happened to an event
/// buffer. Given the same commands it reaches the same state (`stateDigest`) and emits the
/// same events, on any machine. It never reads the clock and never allocates per command in
/// steady state: the level pool and the id index are sized from `Limits` up front, the order
/// pool grows a chunk (`ChunkedArray`) at a time up to `Limits`, freed slots are reused, and
/// every limit has a rejection. After a copy (a snapshot), the first write to each chunk of
/// the order pool copies that chunk; the level pool (32 B a level) and the index (4 B an
/// entry) are copied whole, a few MB at most.
///
/// Complexity: place O(levels crossed + orders filled + log L) where L is the number of price
/// levels on the resting side (a binary search, then an insert that is O(1) near the best
/// price); cancel and amend O(1) when the level stays, O(log L) plus the shift of better
/// levels when the level empties.
///
/// Not thread-safe: one owner mutates it (the matching thread of a replica).
public struct MatchingEngine: Sendable {
    /// Sizes fixed at creation; exceeding one is a rejection, never a crash or an allocation.
    public struct Limits: Sendable, Hashable {
        /// The most symbols the engine holds.
        public var maximumSymbols: Int
        /// The most orders resting at once, over all symbols.
        public var maximumRestingOrders: Int
        /// The most price levels at once, over all symbols and sides.
        public var maximumPriceLevels: Int
        /// Level slots each book side reserves at creation (it grows past this if needed).
        public var initialLevelsPerSide: Int

        /// - Parameter maximumPriceLevels: defaults to an eighth of `maximumRestingOrders`
        ///   (at least 1,024): realistic books hold many orders per level.
        public init(
            maximumSymbols: Int = 16_384, maximumRestingOrders: Int = 1 << 16,
            maximumPriceLevels: Int? = nil, initialLevelsPerSide: Int = 4
        ) {
            precondition(maximumSymbols > 0 && maximumSymbols <= Int(UInt32.max >> 1), "maximumSymbols out of range")
            precondition(maximumRestingOrders > 0 && maximumRestingOrders < Int(Slot.nilSlot), "maximumRestingOrders out of range")
            let levels = maximumPriceLevels ?? max(1_024, maximumRestingOrders / 8)
            precondition(levels > 0 && levels < Int(Slot.nilSlot), "maximumPriceLevels out of range")
            precondition(initialLevelsPerSide >= 0, "initialLevelsPerSide must not be negative")
            self.maximumSymbols = maximumSymbols
            self.maximumRestingOrders = maximumRestingOrders
            self.maximumPriceLevels = levels
            self.initialLevelsPerSide = initialLevelsPerSide
        }
    }

    public let limits: Limits
    var books: [OrderBook] = []
    /// Full specs by symbol id (cold: names and increments, read on output and notional checks).
    var specs: [SymbolSpec] = []
    /// The latest book of each name: a live one, or the tombstone of one handed over.
    var symbolIDsByName: [String: SymbolID] = [:]
    /// Per book: handed over to another shard (`handOver(symbol:)`). A tombstone stays empty
    /// and halted, keeps its id (ids are never reused), and refuses every command with
    /// `symbolMoved`; the name may come back later as a new book.
    var movedAway: [Bool] = []
    /// Order pool; slots below `orders.count` are in use or on the free list.
    var orders = ChunkedArray<RestingOrder>()
    var freeOrderSlot: Slot = .nilSlot
    /// Level pool, same scheme as `orders`.
    var levels: [PriceLevel] = []
    var freeLevelSlot: Slot = .nilSlot
    /// Levels in use now.
    var levelCount = 0
    var index: OrderIndex
    /// Orders resting now, over all symbols.
    public private(set) var restingOrderCount = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
        index = OrderIndex(maximumEntries: limits.maximumRestingOrders)
        orders.reserveCapacity(limits.maximumRestingOrders)
        levels.reserveCapacity(limits.maximumPriceLevels)
        books.reserveCapacity(limits.maximumSymbols)
        specs.reserveCapacity(limits.maximumSymbols)
    }

    /// Applies one command and appends its events to `events` (which it never clears).
    public mutating func apply(_ command: MatchingCommand, into events: inout [MatchingEvent]) {
        switch command {
        case .place(let order): place(order, into: &events)
        case .cancel(let cancel): self.cancel(cancel, into: &events)
        case .amend(let amend): self.amend(amend, into: &events)
        case .addSymbol(let add): addSymbol(add.spec, into: &events)
        case .setSymbolStatus(let change): setStatus(change, into: &events)
        case .setSymbolFilters(let change): setFilters(change, into: &events)
        }
    }

    // MARK: Symbols

    mutating func addSymbol(_ spec: SymbolSpec, into events: inout [MatchingEvent]) {
        let nextID = SymbolID(UInt32(books.count))
        if let existing = symbolIDsByName[spec.name], !movedAway[Int(existing.rawValue)] {
            events.append(.rejected(CommandRejected(command: .addSymbol, orderID: 0, userID: 0, symbolID: nextID, reason: .duplicateSymbol)))
            return
        }
        guard books.count < limits.maximumSymbols else {
            events.append(.rejected(CommandRejected(command: .addSymbol, orderID: 0, userID: 0, symbolID: nextID, reason: .symbolCapacityReached)))
            return
        }
        books.append(OrderBook(spec: spec, levelCapacity: limits.initialLevelsPerSide))
        specs.append(spec)
        movedAway.append(false)
        symbolIDsByName[spec.name] = nextID
        events.append(.symbolAdded(nextID))
    }

    /// The id of the symbol named `name`, if the engine holds it or handed it over (then the
    /// tombstone's, which refuses commands with `symbolMoved`).
    public func symbolID(named name: String) -> SymbolID? { symbolIDsByName[name] }

    /// Whether `symbolID` was handed over to another shard.
    public func isMovedAway(_ symbolID: SymbolID) -> Bool {
        Int(symbolID.rawValue) < movedAway.count && movedAway[Int(symbolID.rawValue)]
    }

    /// The spec of `symbolID`. - Precondition: the engine holds it.
    public func spec(of symbolID: SymbolID) -> SymbolSpec { specs[Int(symbolID.rawValue)] }

    /// Every symbol the engine holds (not the tombstones of those handed over), by id.
    public var symbols: [(id: SymbolID, spec: SymbolSpec)] {
        specs.indices.filter { !movedAway[$0] }.map { (SymbolID(UInt32($0)), specs[$0]) }
    }

    /// Halts or resumes a symbol.
    mutating func setStatus(_ change: SetSymbolStatus, into events: inout [MatchingEvent]) {
        let bookIndex = Int(change.symbolID.rawValue)
        guard bookIndex < books.count, !movedAway[bookIndex] else {
            events.append(.rejected(CommandRejected(
                command: .setSymbolStatus, orderID: 0, userID: 0, symbolID: change.symbolID,
                reason: bookIndex < books.count ? .symbolMoved : .unknownSymbol)))
            return
        }
        books[bookIndex].status = change.status
        specs[bookIndex].status = change.status
        events.append(.symbolStatusChanged(change.symbolID, change.status))
    }

    /// Changes a symbol's quantity and notional filters for places from now on.
    mutating func setFilters(_ change: SetSymbolFilters, into events: inout [MatchingEvent]) {
        let bookIndex = Int(change.symbolID.rawValue)
        guard bookIndex < books.count, !movedAway[bookIndex] else {
            events.append(.rejected(CommandRejected(
                command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: change.symbolID,
                reason: bookIndex < books.count ? .symbolMoved : .unknownSymbol)))
            return
        }
        guard change.isValid else {
            events.append(.rejected(CommandRejected(
                command: .setSymbolFilters, orderID: 0, userID: 0, symbolID: change.symbolID, reason: .invalidSymbolSpec)))
            return
        }
        specs[bookIndex].minimumQuantity = change.minimumQuantity
        specs[bookIndex].maximumQuantity = change.maximumQuantity
        specs[bookIndex].minimumNotional = change.minimumNotional
        books[bookIndex].minimumQuantity = change.minimumQuantity
        books[bookIndex].maximumQuantity = change.maximumQuantity
        books[bookIndex].checksNotional = change.minimumNotional.isPositive
        events.append(.symbolFiltersChanged(change.symbolID))
    }

    // MARK: Pools

    /// Takes an order slot. - Precondition: `restingOrderCount < limits.maximumRestingOrders`.
    @inline(__always)
    mutating func allocateOrder(_ order: RestingOrder) -> Slot {
        restingOrderCount += 1
        if freeOrderSlot != .nilSlot {
            let slot = freeOrderSlot
            freeOrderSlot = orders[Int(slot)].next
            orders[Int(slot)] = order
            return slot
        }
        orders.append(order)
        return Slot(orders.count - 1)
    }

    @inline(__always)
    mutating func releaseOrder(_ slot: Slot) {
        restingOrderCount -= 1
        orders[Int(slot)].remaining = 0
        orders[Int(slot)].next = freeOrderSlot
        freeOrderSlot = slot
    }

    @inline(__always)
    mutating func allocateLevel(_ level: PriceLevel) -> Slot {
        levelCount += 1
        if freeLevelSlot != .nilSlot {
            let slot = freeLevelSlot
            freeLevelSlot = levels[Int(slot)].head
            levels[Int(slot)] = level
            return slot
        }
        levels.append(level)
        return Slot(levels.count - 1)
    }

    @inline(__always)
    mutating func releaseLevel(_ slot: Slot) {
        levelCount -= 1
        levels[Int(slot)].orderCount = 0
        levels[Int(slot)].head = freeLevelSlot
        freeLevelSlot = slot
    }

    // MARK: Queries

    /// One resting order as seen from outside.
    public struct RestingOrderView: Hashable, Sendable {
        public var orderID: OrderID
        public var userID: UserID
        public var side: OrderSide
        public var price: Price
        public var quantity: Quantity
        public var remaining: Quantity
    }

    /// Calls `body` for each resting order of `symbolID` on `side`, best price first and
    /// in time priority within a price. - Precondition: the engine holds `symbolID`.
    public func forEachRestingOrder(of symbolID: SymbolID, side: OrderSide, _ body: (RestingOrderView) throws -> Void) rethrows {
        let keys = books[Int(symbolID.rawValue)][side]
        for levelKey in keys.reversed() {
            let level = levels[Int(levelKey.level)]
            var slot = level.head
            while slot != .nilSlot {
                let order = orders[Int(slot)]
                try body(RestingOrderView(
                    orderID: order.orderID, userID: order.userID, side: side, price: Price(ticks: level.price),
                    quantity: Quantity(lots: order.quantity), remaining: Quantity(lots: order.remaining)))
                slot = order.next
            }
        }
    }

    /// The resting order `orderID`, if it rests.
    public func restingOrder(_ orderID: OrderID) -> RestingOrderView? {
        let slot = findSlot(orderID)
        guard slot != .nilSlot else { return nil }
        let order = orders[Int(slot)]
        let level = levels[Int(order.level)]
        return RestingOrderView(
            orderID: order.orderID, userID: order.userID, side: level.side,
            price: Price(ticks: level.price), quantity: Quantity(lots: order.quantity),
            remaining: Quantity(lots: order.remaining))
    }

    /// L2 depth: up to `limit` levels of `side`, best first, as (price, total quantity).
    /// - Precondition: the engine holds `symbolID`; `limit >= 0`.
    public func depth(of symbolID: SymbolID, side: OrderSide, limit: Int) -> [(price: Price, quantity: Quantity)] {
        books[Int(symbolID.rawValue)][side].reversed().prefix(limit).map {
            let level = levels[Int($0.level)]
            return (Price(ticks: level.price), Quantity(lots: level.totalQuantity))
        }
    }

    /// Bytes the engine's pools, index and level arrays hold (capacity, not use).
    public var footprintBytes: Int {
        orders.capacity * MemoryLayout<RestingOrder>.stride
            + levels.capacity * MemoryLayout<PriceLevel>.stride
            + index.footprintBytes
            + books.reduce(0) { $0 + ($1.bids.capacity + $1.asks.capacity) * MemoryLayout<LevelKey>.stride }
            + books.capacity * MemoryLayout<OrderBook>.stride
    }
}
