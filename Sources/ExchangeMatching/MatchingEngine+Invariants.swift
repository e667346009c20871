import ExchangeCore

extension MatchingEngine {
    /// Checks every structural invariant: sides sorted with no duplicate price, no crossed
    /// book, cached best keys current, level totals and counts equal to their orders, links
    /// consistent (walks bounded, so a cycle is reported, not looped on), every order
    /// findable by id and the index holding nothing else, free lists holding exactly the
    /// unused pool slots.
    ///
    /// O(resting orders + index capacity): for tests and audits, not the hot path.
    public func checkInvariants() throws(InvariantViolation) {
        func fail(_ message: String) -> InvariantViolation { InvariantViolation(description: message) }
        var ordersSeen = 0
        var levelsSeen = 0
        for (bookIndex, book) in books.enumerated() {
            if movedAway[bookIndex], !book.bids.isEmpty || !book.asks.isEmpty || book.status != .halted {
                throw fail("\(specs[bookIndex].name): handed over, but its book \(bookIndex) is not empty and halted")
            }
            for side in OrderSide.allCases {
                let keys = book[side]
                for (position, levelKey) in keys.enumerated() {
                    levelsSeen += 1
                    if position > 0, keys[position - 1].key >= levelKey.key {
                        throw fail("\(specs[bookIndex].name) \(side): level keys not strictly ascending at \(position)")
                    }
                    let level = levels[Int(levelKey.level)]
                    guard level.bookSide == UInt32(bookIndex) << 1 | UInt32(side.rawValue) else {
                        throw fail("\(specs[bookIndex].name) \(side): level \(levelKey.level) belongs to another book")
                    }
                    guard side.key(of: level.price) == levelKey.key, level.price > 0 else {
                        throw fail("\(specs[bookIndex].name) \(side): level key does not match price \(level.price)")
                    }
                    var total: Int64 = 0
                    var count: UInt32 = 0
                    var previous = Slot.nilSlot
                    var slot = level.head
                    while slot != .nilSlot {
                        guard count < level.orderCount else {
                            throw fail("\(specs[bookIndex].name) \(side) \(level.price): more linked orders than its count")
                        }
                        let order = orders[Int(slot)]
                        guard order.level == levelKey.level, order.previous == previous else {
                            throw fail("order \(order.orderID): broken links")
                        }
                        guard order.remaining > 0, order.remaining <= order.quantity else {
                            throw fail("order \(order.orderID): remaining \(order.remaining) of \(order.quantity)")
                        }
                        guard findSlot(order.orderID) == slot else {
                            throw fail("order \(order.orderID): not found by id")
                        }
                        total += order.remaining
                        count += 1
                        previous = slot
                        slot = order.next
                    }
                    guard level.tail == previous, count == level.orderCount, count > 0 else {
                        throw fail("\(specs[bookIndex].name) \(side) \(level.price): tail or count wrong")
                    }
                    guard total == level.totalQuantity else {
                        throw fail("\(specs[bookIndex].name) \(side) \(level.price): total \(level.totalQuantity) != \(total)")
                    }
                    ordersSeen += Int(count)
                }
            }
            for side in OrderSide.allCases where book.bestKey(side) != (book[side].last?.key ?? OrderBook.emptySideKey) {
                throw fail("\(specs[bookIndex].name) \(side): cached best key is stale")
            }
            if let bid = book.bids.last, let ask = book.asks.last,
               levels[Int(bid.level)].price >= levels[Int(ask.level)].price {
                throw fail("\(specs[bookIndex].name): crossed book")
            }
        }
        var latestBooks: [String: SymbolID] = [:]
        for bookIndex in specs.indices { latestBooks[specs[bookIndex].name] = SymbolID(UInt32(bookIndex)) }
        guard latestBooks == symbolIDsByName else { throw fail("a symbol name does not lead to its latest book") }
        guard ordersSeen == restingOrderCount, index.occupiedCount == restingOrderCount else {
            throw fail("resting count \(restingOrderCount), in books \(ordersSeen), indexed \(index.occupiedCount)")
        }
        guard levelsSeen == levelCount else { throw fail("level count \(levelCount), in books \(levelsSeen)") }
        var freeOrders = 0
        var freeSlot = freeOrderSlot
        while freeSlot != .nilSlot {
            guard freeOrders < orders.count, orders[Int(freeSlot)].remaining == 0 else {
                throw fail("order free list: slot \(freeSlot) in use or a cycle")
            }
            freeOrders += 1
            freeSlot = orders[Int(freeSlot)].next
        }
        guard freeOrders + restingOrderCount == orders.count else {
            throw fail("order pool: \(freeOrders) free + \(restingOrderCount) resting != \(orders.count) slots")
        }
        var freeLevels = 0
        freeSlot = freeLevelSlot
        while freeSlot != .nilSlot {
            guard freeLevels < levels.count, levels[Int(freeSlot)].orderCount == 0 else {
                throw fail("level free list: slot \(freeSlot) in use or a cycle")
            }
            freeLevels += 1
            freeSlot = levels[Int(freeSlot)].head
        }
        guard freeLevels + levelCount == levels.count else {
            throw fail("level pool: \(freeLevels) free + \(levelCount) in use != \(levels.count) slots")
        }
        guard restingOrderCount <= limits.maximumRestingOrders, levelCount <= limits.maximumPriceLevels else {
            throw fail("over capacity")
        }
    }

    /// A digest of the logical state only: symbols with their specs and trade counters, and
    /// every resting order with its price, quantities and queue position. Pool slots, free
    /// lists and capacities do not count, so a restored engine has the digest of the original.
    public var stateDigest: UInt64 {
        var checksum = Checksum64()
        checksum.combine(UInt64(books.count))
        for (index, (book, spec)) in zip(books, specs).enumerated() {
            // Only tombstones add a word, so states without moves keep their digests.
            if movedAway[index] { checksum.combine(UInt64(0x4D4F_5645_4420_4157)) }
            var specBytes = BinaryWriter()
            LogCodec.encode(.addSymbol(AddSymbol(spec: spec)), into: &specBytes)
            specBytes.bytes.withUnsafeBytes { checksum.update($0) }
            // Realign to words after the variable-length spec.
            let padding = (8 - specBytes.bytes.count % 8) % 8
            if padding > 0 { [UInt8](repeating: 0, count: padding).withUnsafeBytes { checksum.update($0) } }
            checksum.combine(book.nextTradeID)
            for side in OrderSide.allCases {
                checksum.combine(UInt64(book[side].count))
                for levelKey in book[side].reversed() {
                    let level = levels[Int(levelKey.level)]
                    checksum.combine(level.price)
                    checksum.combine(UInt64(level.orderCount))
                    var slot = level.head
                    while slot != .nilSlot {
                        let order = orders[Int(slot)]
                        checksum.combine(order.orderID)
                        checksum.combine(order.userID)
                        checksum.combine(order.quantity)
                        checksum.combine(order.remaining)
                        slot = order.next
                    }
                }
            }
        }
        return checksum.value
    }
}
