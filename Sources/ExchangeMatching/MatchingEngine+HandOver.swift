import ExchangeCore

/// Moving a symbol's book between engines (shards): `handOver(symbol:)` on the old owner,
/// `takeOver(_:)` on the new one, the book travelling in the snapshot form with one symbol.
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

    /// Takes symbol `name`'s book out of the engine: returns it, and leaves a tombstone in its
    /// place (empty, halted, refusing every command with `symbolMoved`). Nil when the engine
    /// does not hold `name` (never had it, or handed it over already).
    ///
    /// O(orders of the book): the form is written and the pool slots freed in one walk each.
    public mutating func handOver(symbol name: String) -> HandedOverBook? {
        guard let symbolID = symbolIDsByName[name], !movedAway[Int(symbolID.rawValue)] else { return nil }
        let bookIndex = Int(symbolID.rawValue)
        var bytes: [UInt8] = []
        // Writing to memory cannot fail.
        try! writeSnapshot(books: CollectionOfOne(bookIndex)) { bytes.append(contentsOf: $0) }
        let released = releaseAllLevels(ofBook: bookIndex)
        books[bookIndex].status = .halted
        specs[bookIndex].status = .halted
        movedAway[bookIndex] = true
        return HandedOverBook(symbolID: symbolID, bytes: bytes, restingOrders: released)
    }

    /// Adds a book another engine handed over, as a new symbol id; its orders keep their queue
    /// places. Throws `SnapshotError` (leaving the engine as it was) when the form is corrupt,
    /// holds other than one live book, names a symbol this engine holds, or does not fit
    /// the limits.
    ///
    /// O(orders of the book), in place: a refusal found midway releases what was added (the
    /// engine is not copied first, which cost O(the engine's capacity) on every take-over).
    public mutating func takeOver(_ book: [UInt8]) throws -> SymbolID {
        let symbolsBefore = books.count
        do {
            var offset = 0
            let added = try readSnapshot { buffer in
                let count = min(buffer.count, book.count - offset)
                book.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
                offset += count
                return count
            }
            guard added.count == 1, let symbolID = added.first, !movedAway[Int(symbolID.rawValue)] else {
                throw SnapshotError.invalidContent("a handed-over book holds one symbol that was not handed over before")
            }
            return symbolID
        } catch {
            removeSymbols(from: symbolsBefore)
            throw error
        }
    }

    /// Releases every order and level of book `bookIndex` and empties its sides; returns how
    /// many orders it held.
    private mutating func releaseAllLevels(ofBook bookIndex: Int) -> Int {
        var released = 0
        for side in OrderSide.allCases {
            for levelKey in books[bookIndex][side] {
                var slot = levels[Int(levelKey.level)].head
                while slot != .nilSlot {
                    let order = orders[Int(slot)]
                    indexRemove(order.orderID)
                    releaseOrder(slot)
                    released += 1
                    slot = order.next
                }
                releaseLevel(levelKey.level)
            }
        }
        books[bookIndex].removeAllLevels()
        return released
    }

    /// Removes the symbols with ids from `first` on (what a refused take-over added), with
    /// their orders and levels, and gives each name back to the id it led to before.
    private mutating func removeSymbols(from first: Int) {
        for bookIndex in (first..<books.count).reversed() {
            _ = releaseAllLevels(ofBook: bookIndex)
            let name = specs.removeLast().name
            books.removeLast()
            movedAway.removeLast()
            symbolIDsByName[name] = specs.indices.last { specs[$0].name == name }.map { SymbolID(UInt32($0)) }
        }
    }

    /// Takes the next symbol id for a handed-over book `takeOver(_:)` refused, as a
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
