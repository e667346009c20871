import ExchangeCore

/// Moving a symbol's book between engines (shards): a `BookDeparture` on the old owner, a
/// `BookArrival` on the new one, the book travelling in the snapshot form with one symbol.
///
/// Both go in steps of a bounded number of orders, so an engine that applies other commands
/// between the steps pauses them for one step at a time, never for the whole book. From the
/// first step to the last the symbol is a tombstone on both sides (empty, halted, refusing
/// every command with `symbolMoved`), and the orders on their way are held by the move, not
/// by the book: `stateDigest` and `writeSnapshot` see only the tombstone, so a state with a
/// move under way is not snapshotted (`MatchingShardMachine` refuses to). `handOver(symbol:)`
/// and `takeOver(_:)` do a whole move in one call.
///
/// The book keeps everything that matters to traders: every resting order with its queue
/// place, the spec, the status and the trade id counter (so trade ids go on increasing).
extension MatchingEngine {
    /// A book on its way to another engine.
    public struct HandedOverBook: Sendable, Equatable {
        /// The tombstone's id here.
        public var symbolID: SymbolID
        /// The book in the snapshot form with one symbol.
        public var bytes: [UInt8]
        public var restingOrders: Int
    }

    /// A book leaving this engine: its levels, taken out of the book at the start, are written
    /// in the hand-over form and freed, best level first, oldest order first.
    ///
    /// Invariant: `bytes` is the form up to the next order to write; the orders written are
    /// out of the pool and the index, those to come are still in them.
    public struct BookDeparture: Sendable {
        /// The tombstone's id.
        public let symbolID: SymbolID
        /// Each side's levels as the book held them (ascending keys, best last).
        private let sides: [[LevelKey]]
        /// The side being written (an index into `sides`).
        private var side = 0
        /// Levels of the current side not finished: the next is `sides[side][levelsLeft - 1]`.
        private var levelsLeft: Int
        /// The next order of the current level, or `nilSlot` before its header is written.
        private var nextOrder = Slot.nilSlot
        private var checksum = Checksum64()
        /// The form so far; whole once `isFinished`.
        private var form: BinaryWriter
        public var bytes: [UInt8] { form.bytes }
        /// Orders written so far.
        public private(set) var restingOrders = 0
        public private(set) var isFinished = false

        fileprivate init(symbolID: SymbolID, sides: [[LevelKey]], header: BinaryWriter) {
            self.symbolID = symbolID
            self.sides = sides
            levelsLeft = sides[0].count
            form = header
            header.bytes.withUnsafeBytes { checksum.update($0) }
        }

        /// A digest of the progress (the orders still to go are in the engine's pools).
        public var progressDigest: UInt64 {
            var digest = Checksum64()
            for word in [UInt64(symbolID.rawValue), UInt64(side), UInt64(levelsLeft), UInt64(restingOrders), UInt64(form.bytes.count)] {
                digest.combine(word)
            }
            return digest.value
        }

        /// The hand-over once finished.
        public var book: HandedOverBook? {
            isFinished ? HandedOverBook(symbolID: symbolID, bytes: bytes, restingOrders: restingOrders) : nil
        }
    }

    /// Starts handing symbol `name`'s book over: the symbol becomes a tombstone at once and its
    /// orders go out with `continueHandOver`. Nil when the engine does not hold `name` (never
    /// had it, or handed it over already).
    public mutating func beginHandOver(symbol name: String) -> BookDeparture? {
        guard let symbolID = symbolIDsByName[name], !movedAway[Int(symbolID.rawValue)] else { return nil }
        let bookIndex = Int(symbolID.rawValue)
        var header = BinaryWriter(capacity: 1_024)
        for byte in MatchingSnapshotFormat.magic { header.writeByte(byte) }
        header.writeVarint(MatchingSnapshotFormat.version)
        header.writeVarint(1)
        let spec = LogCodec.encode(.addSymbol(AddSymbol(spec: specs[bookIndex])))
        header.writeVarint(UInt64(spec.count))
        header.writeBytes(spec)
        header.writeVarint(books[bookIndex].nextTradeID)
        header.writeVarint(0)
        header.writeVarint(UInt64(books[bookIndex].bids.count))
        let departure = BookDeparture(symbolID: symbolID, sides: [books[bookIndex].bids, books[bookIndex].asks], header: header)
        books[bookIndex].removeAllLevels()
        books[bookIndex].status = .halted
        specs[bookIndex].status = .halted
        movedAway[bookIndex] = true
        return departure
    }

    /// Writes and frees up to `budget` more orders of `departure`; finishes it (`isFinished`,
    /// `book`) after the last.
    ///
    /// O(budget), plus the levels it passes (the form grows in place, and its checksum with
    /// it).
    public mutating func continueHandOver(_ departure: inout BookDeparture, budget: Int) {
        departure.step(budget: budget, engine: &self)
    }

    /// Takes symbol `name`'s book out of the engine in one call: returns it, and leaves a
    /// tombstone in its place. Nil when the engine does not hold `name`.
    public mutating func handOver(symbol name: String) -> HandedOverBook? {
        guard var departure = beginHandOver(symbol: name) else { return nil }
        continueHandOver(&departure, budget: .max)
        return departure.book
    }
}

extension MatchingEngine.BookDeparture {
    fileprivate mutating func step(budget: Int, engine: inout MatchingEngine) {
        guard !isFinished else { return }
        let start = form.bytes.count
        defer {
            form.bytes[start...].withUnsafeBytes { checksum.update($0) }
            if isFinished {
                form.writeBytes(MatchingSnapshotFormat.trailer)
                form.writeFixed64(checksum.value)
            }
        }
        var left = budget
        while true {
            if nextOrder == .nilSlot {
                if levelsLeft == 0 {
                    guard side == 0 else {
                        isFinished = true
                        return
                    }
                    side = 1
                    levelsLeft = sides[1].count
                    form.writeVarint(UInt64(levelsLeft))
                    continue
                }
                guard left > 0 else { return }
                let level = engine.levels[Int(sides[side][levelsLeft - 1].level)]
                form.writeSignedVarint(level.price)
                form.writeVarint(UInt64(level.orderCount))
                nextOrder = level.head
            }
            while left > 0, nextOrder != .nilSlot {
                let slot = nextOrder
                let order = engine.orders[Int(slot)]
                // A pipeline over the level's list: the next order (its line asked for one
                // order ago) gives its id, so its index entry loads while this one leaves the
                // index, and the one after it starts loading.
                if order.next != .nilSlot {
                    let following = engine.orders[Int(order.next)]
                    engine.prefetchIndexHome(of: following.orderID)
                    if following.next != .nilSlot { engine.orders.prefetch(Int(following.next)) }
                }
                form.writeVarint(order.orderID)
                form.writeVarint(order.userID)
                form.writeSignedVarint(order.quantity)
                form.writeSignedVarint(order.remaining)
                engine.indexRemove(order.orderID)
                engine.releaseOrder(slot)
                restingOrders += 1
                nextOrder = order.next
                left -= 1
            }
            guard nextOrder == .nilSlot else { return }
            engine.releaseLevel(sides[side][levelsLeft - 1].level)
            levelsLeft -= 1
        }
    }
}

extension MatchingEngine {
    /// A book arriving from another engine: its symbol id is taken (as a tombstone) at the
    /// start, its orders go into the pools and the index step by step, each side's levels
    /// join the book when the side is read, and the symbol trades from the last step on.
    ///
    /// Invariant: the form's checksum and header were checked at the start; `offset` is the
    /// next byte to read; the levels of the side being read are in `pendingLevels`, best
    /// first, the last one receiving orders while `ordersLeft > 0`.
    public struct BookArrival: Sendable {
        public let symbolID: SymbolID
        /// The book in the hand-over form, as handed over.
        public let book: [UInt8]
        /// The end of the book's levels (the trailer's offset).
        private let end: Int
        private var offset: Int
        private let nextTradeID: UInt64
        private var side = 0
        private var levelsLeft: UInt64
        private var ordersLeft: UInt64 = 0
        private var pendingLevels: [LevelKey] = []
        /// Orders added so far.
        public private(set) var restingOrders = 0
        public private(set) var isFinished = false

        fileprivate init(symbolID: SymbolID, book: [UInt8], end: Int, offset: Int, nextTradeID: UInt64, levelsLeft: UInt64) {
            self.symbolID = symbolID
            self.book = book
            self.end = end
            self.offset = offset
            self.nextTradeID = nextTradeID
            self.levelsLeft = levelsLeft
        }

        /// A digest of the progress (the orders added are in the engine's pools).
        public var progressDigest: UInt64 {
            var digest = Checksum64()
            for word in [UInt64(symbolID.rawValue), UInt64(offset), UInt64(side), levelsLeft, ordersLeft, UInt64(restingOrders)] {
                digest.combine(word)
            }
            return digest.value
        }
    }

    /// Starts adding a book another engine handed over, as a new symbol id (a tombstone until
    /// `continueTakeOver` finishes it). Checks the checksum and the header first; throws
    /// `SnapshotError` (adding nothing) when the form is corrupt, holds other than one book
    /// that was not handed over before, or names a symbol this engine holds.
    public mutating func beginTakeOver(_ book: [UInt8]) throws -> BookArrival {
        let trailerLength = MatchingSnapshotFormat.trailer.count + 8
        guard book.count >= MatchingSnapshotFormat.magic.count + trailerLength else { throw SnapshotError.truncated }
        let end = book.count - trailerLength
        guard Array(book[end..<(end + MatchingSnapshotFormat.trailer.count)]) == MatchingSnapshotFormat.trailer else {
            throw SnapshotError.invalidContent("missing trailer")
        }
        var checksum = Checksum64()
        book.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
        var stored: UInt64 = 0
        for (shift, byte) in book[(end + MatchingSnapshotFormat.trailer.count)...].enumerated() { stored |= UInt64(byte) << UInt64(8 * shift) }
        guard stored == checksum.value else { throw SnapshotError.checksumMismatch }
        var reader = BinaryReader(book[0..<end])
        do {
            for byte in MatchingSnapshotFormat.magic where try reader.readByte() != byte { throw SnapshotError.badMagic }
            let version = try reader.readVarint()
            guard MatchingSnapshotFormat.readableVersions.contains(version) else { throw SnapshotError.unsupportedVersion(version) }
            guard try reader.readVarint() == 1 else { throw SnapshotError.invalidContent("a handed-over book holds one symbol") }
            let specLength = Int(try reader.readVarint())
            guard specLength < 1_024, specLength <= end - reader.offset else { throw SnapshotError.invalidContent("spec length \(specLength)") }
            guard case .addSymbol(let add) = try LogCodec.decodeCommand(book[reader.offset..<(reader.offset + specLength)]) else {
                throw SnapshotError.invalidContent("symbol spec")
            }
            try reader.skip(specLength)
            let nextTradeID = try reader.readVarint()
            guard nextTradeID >= 1, nextTradeID < UInt64.max else { throw SnapshotError.invalidContent("\(add.spec.name): next trade id \(nextTradeID)") }
            let flags = version >= 2 ? try reader.readVarint() : 0
            guard flags == 0 else { throw SnapshotError.invalidContent("\(add.spec.name): a tombstone was handed over (flags \(flags))") }
            let bidLevels = try reader.readVarint()
            var events: [MatchingEvent] = []
            addSymbol(add.spec, into: &events)
            guard case .symbolAdded(let symbolID) = events.first else { throw SnapshotError.invalidContent("symbol \(add.spec.name) refused") }
            let bookIndex = Int(symbolID.rawValue)
            books[bookIndex].status = .halted
            movedAway[bookIndex] = true
            return BookArrival(symbolID: symbolID, book: book, end: end, offset: reader.offset, nextTradeID: nextTradeID, levelsLeft: bidLevels)
        } catch let error as BinaryDecodingError {
            throw SnapshotError.invalidContent("handed-over book: \(error)")
        }
    }

    /// Adds up to `budget` more orders of `arrival`; after the last, checks the book and lets
    /// the symbol trade (`isFinished`). Throws `SnapshotError` when the form turns out bad or
    /// the book does not fit the limits: the caller then calls `abandonTakeOver`.
    ///
    /// O(budget), plus O(levels of a side) when the side is read.
    public mutating func continueTakeOver(_ arrival: inout BookArrival, budget: Int) throws {
        try arrival.step(budget: budget, engine: &self)
    }

    /// Frees what a take-over that threw added; its symbol stays a halted tombstone.
    public mutating func abandonTakeOver(_ arrival: BookArrival) {
        arrival.release(from: &self)
    }

    /// Adds a book another engine handed over, as a new symbol id, in one call. Throws
    /// `SnapshotError` (leaving the engine as it was) when the form is corrupt, holds other
    /// than one live book, names a symbol this engine holds, or does not fit the limits.
    public mutating func takeOver(_ book: [UInt8]) throws -> SymbolID {
        var arrival = try beginTakeOver(book)
        do {
            try continueTakeOver(&arrival, budget: .max)
            return arrival.symbolID
        } catch {
            abandonTakeOver(arrival)
            removeLastSymbol()
            throw error
        }
    }

    /// Removes the newest symbol (a refused take-over's), which holds no levels, and gives its
    /// name back to the id it led to before.
    private mutating func removeLastSymbol() {
        let name = specs.removeLast().name
        books.removeLast()
        movedAway.removeLast()
        symbolIDsByName[name] = specs.indices.last { specs[$0].name == name }.map { SymbolID(UInt32($0)) }
    }

    /// Takes the next symbol id for a handed-over book `beginTakeOver(_:)` refused, as a
    /// tombstone of its symbol, so ids handed out by counting take-overs stay the engine's.
    /// Does nothing when the book's spec does not decode or the engine is full.
    public mutating func addTombstone(forRefused book: [UInt8]) {
        var reader = BinaryReader(book)
        guard (try? reader.skip(MatchingSnapshotFormat.magic.count)) != nil,
              let version = try? reader.readVarint(), MatchingSnapshotFormat.readableVersions.contains(version),
              (try? reader.readVarint()) == 1, let specLength = try? reader.readVarint(), specLength < 1_024,
              reader.offset + Int(specLength) <= book.count,
              case .addSymbol(var add)? = try? LogCodec.decodeCommand(book[reader.offset..<(reader.offset + Int(specLength))])
        else { return }
        add.spec.status = .halted
        var events: [MatchingEvent] = []
        addSymbol(add.spec, into: &events)
        guard case .symbolAdded(let symbolID) = events.first else { return }
        movedAway[Int(symbolID.rawValue)] = true
        books[Int(symbolID.rawValue)].status = .halted
    }
}

extension MatchingEngine.BookArrival {
    /// Orders read ahead of their insertion (their index positions prefetched).
    private static let lookahead = 32

    fileprivate mutating func step(budget: Int, engine: inout MatchingEngine) throws {
        let bookIndex = Int(symbolID.rawValue)
        var parsed: [(orderID: OrderID, userID: UserID, quantity: Int64, remaining: Int64)] = []
        parsed.reserveCapacity(Self.lookahead)
        var reader = BinaryReader(book[0..<end])
        do {
            try reader.skip(offset)
            defer { offset = reader.offset }
            var left = budget
            while !isFinished {
                let side: OrderSide = self.side == 0 ? .buy : .sell
                if ordersLeft == 0 {
                    if levelsLeft == 0 {
                        engine.books[bookIndex].appendLevels(pendingLevels.reversed(), side: side)
                        pendingLevels.removeAll()
                        if self.side == 0 {
                            self.side = 1
                            levelsLeft = try reader.readVarint()
                            continue
                        }
                        guard reader.isAtEnd else { throw SnapshotError.invalidContent("bytes after the book") }
                        try finish(engine: &engine)
                        return
                    }
                    guard left > 0 else { return }
                    let price = try reader.readSignedVarint()
                    let key = side.key(of: price)
                    guard price > 0, pendingLevels.last.map({ $0.key > key }) ?? true else {
                        throw SnapshotError.invalidContent("\(engine.specs[bookIndex].name) \(side) level order at price \(price)")
                    }
                    guard engine.levelCount < engine.limits.maximumPriceLevels else { throw SnapshotError.exceedsLimits("price levels") }
                    ordersLeft = try reader.readVarint()
                    guard ordersLeft > 0 else { throw SnapshotError.invalidContent("empty level") }
                    guard ordersLeft <= UInt64(engine.limits.maximumRestingOrders - engine.restingOrderCount) else {
                        throw SnapshotError.exceedsLimits("resting orders")
                    }
                    let levelSlot = engine.allocateLevel(PriceLevel(
                        price: price, totalQuantity: 0, head: .nilSlot, tail: .nilSlot, orderCount: 0,
                        bookSide: UInt32(bookIndex) << 1 | UInt32(side.rawValue)))
                    pendingLevels.append(LevelKey(key: key, level: levelSlot))
                    levelsLeft -= 1
                }
                let levelSlot = pendingLevels[pendingLevels.count - 1].level
                while left > 0, ordersLeft > 0 {
                    // Read a few orders ahead so their index positions load together.
                    let count = min(left, Int(min(ordersLeft, UInt64(Self.lookahead))))
                    parsed.removeAll(keepingCapacity: true)
                    for _ in 0..<count {
                        let order = (
                            orderID: try reader.readVarint(), userID: try reader.readVarint(),
                            quantity: try reader.readSignedVarint(), remaining: try reader.readSignedVarint())
                        engine.prefetchIndexHome(of: order.orderID)
                        parsed.append(order)
                    }
                    for order in parsed {
                        try engine.restoreOrder(
                            orderID: order.orderID, userID: order.userID, quantity: order.quantity, remaining: order.remaining,
                            levelSlot: levelSlot)
                    }
                    ordersLeft -= UInt64(count)
                    restingOrders += count
                    left -= count
                }
                if ordersLeft > 0 { return }
            }
        } catch let error as BinaryDecodingError {
            throw SnapshotError.invalidContent("handed-over book: \(error)")
        }
    }

    /// Checks the whole book and lets its symbol trade.
    private mutating func finish(engine: inout MatchingEngine) throws {
        let bookIndex = Int(symbolID.rawValue)
        if let bid = engine.books[bookIndex].bids.last, let ask = engine.books[bookIndex].asks.last,
           engine.levels[Int(bid.level)].price >= engine.levels[Int(ask.level)].price {
            throw SnapshotError.invalidContent("\(engine.specs[bookIndex].name): crossed book")
        }
        engine.books[bookIndex].nextTradeID = nextTradeID
        engine.books[bookIndex].status = engine.specs[bookIndex].status
        engine.movedAway[bookIndex] = false
        isFinished = true
    }

    /// Frees every level and order added so far, leaving the symbol a halted tombstone.
    fileprivate func release(from engine: inout MatchingEngine) {
        let bookIndex = Int(symbolID.rawValue)
        for levelKey in pendingLevels { engine.releaseLevelWithOrders(levelKey.level) }
        for side in OrderSide.allCases {
            for levelKey in engine.books[bookIndex][side] { engine.releaseLevelWithOrders(levelKey.level) }
        }
        engine.books[bookIndex].removeAllLevels()
        engine.books[bookIndex].status = .halted
        engine.specs[bookIndex].status = .halted
        engine.movedAway[bookIndex] = true
    }
}

extension MatchingEngine {
    /// Frees level `levelSlot` with every order linked to it (and their index entries).
    fileprivate mutating func releaseLevelWithOrders(_ levelSlot: Slot) {
        var slot = levels[Int(levelSlot)].head
        while slot != .nilSlot {
            let order = orders[Int(slot)]
            indexRemove(order.orderID)
            releaseOrder(slot)
            slot = order.next
        }
        releaseLevel(levelSlot)
    }
}
