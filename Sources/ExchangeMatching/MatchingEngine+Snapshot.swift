import ExchangeCore

/// The binary form of an engine's state, version 2:
///
/// ```
/// "OXME" · version · symbolCount
/// per symbol: specLength · spec (LogCodec addSymbol entry) · nextTradeID · flags
///   per side (bids, asks): levelCount
///     per level, best first: price · orderCount
///       per order, oldest first: orderID · userID · quantity · remaining
/// "END!" · checksum (Checksum64 of every byte before "END!", 8 bytes little-endian)
/// ```
/// Integers are LEB128 varints (signed ones zig-zag). The form holds only logical state,
/// so restoring it gives the same `stateDigest`. `flags` bit 0: the book was handed over
/// (a tombstone, no levels); version 1 had no flags. A book handed over between shards
/// travels in the same form with one symbol (`handOver(symbol:)`).
enum MatchingSnapshotFormat {
    static let magic: [UInt8] = Array("OXME".utf8)
    static let trailer: [UInt8] = Array("END!".utf8)
    static let version: UInt64 = 2
    static let readableVersions: ClosedRange<UInt64> = 1...2
    static let movedAwayFlag: UInt64 = 1
    static let chunkBytes = 1 << 16
}

extension MatchingEngine {
    /// Streams the state to `sink` in 64 KiB chunks; memory use stays O(chunk), whatever the
    /// number of orders.
    public func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws {
        try writeSnapshot(books: books.indices) { try sink.write($0) }
    }

    /// The non-generic body of `writeSnapshot(to:)`: generic code called from another module
    /// runs unspecialized (metadata look-ups per call), so the byte loop lives here and the
    /// sink is reached once per chunk through `write`.
    ///
    /// Bytes go into a fixed staging buffer through a raw pointer (`StagingWriter`). Orders are
    /// gathered `interleavedLevels` levels at a time, one step of each level's list in turn:
    /// a list walk waits on one cache miss per order, and walking several lists at once lets
    /// those misses overlap (`exchange bench matching --resting 1000000` shows the binary form
    /// of 1M orders taking about 110 ms walking one list at a time).
    ///
    /// Writes the books of `books` (every one for a snapshot, one for a hand-over).
    func writeSnapshot(books written: some Collection<Int>, _ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let interleavedLevels = 8
        var gathered = [[RestingOrder]](repeating: [], count: interleavedLevels)
        // Room for one chunk plus the largest group written between two flush checks
        // (a symbol's header, whose spec entry is well under 1 KiB).
        var staging = [UInt8](repeating: 0, count: MatchingSnapshotFormat.chunkBytes + 4_096)
        var checksum = Checksum64()
        try staging.withUnsafeMutableBytes { buffer in
            var output = StagingWriter(buffer: buffer)
            func flush(force: Bool = false) throws {
                guard force || output.count >= MatchingSnapshotFormat.chunkBytes else { return }
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<output.count])
                checksum.update(bytes)
                try write(bytes)
                output.count = 0
            }
            for byte in MatchingSnapshotFormat.magic { output.writeByte(byte) }
            output.writeVarint(MatchingSnapshotFormat.version)
            output.writeVarint(UInt64(written.count))
            for bookIndex in written {
                try flush()
                let spec = LogCodec.encode(.addSymbol(AddSymbol(spec: specs[bookIndex])))
                precondition(spec.count < 1_024, "symbol spec entry too large")
                output.writeVarint(UInt64(spec.count))
                for byte in spec { output.writeByte(byte) }
                output.writeVarint(books[bookIndex].nextTradeID)
                output.writeVarint(movedAway[bookIndex] ? MatchingSnapshotFormat.movedAwayFlag : 0)
                for side in OrderSide.allCases {
                    let keys = books[bookIndex][side]
                    output.writeVarint(UInt64(keys.count))
                    // Best level first: the sorted array holds it last.
                    var windowEnd = keys.count
                    while windowEnd > 0 {
                        let windowStart = max(0, windowEnd - interleavedLevels)
                        var cursors = (windowStart..<windowEnd).reversed().map { levels[Int(keys[$0].level)].head }
                        for index in cursors.indices { gathered[index].removeAll(keepingCapacity: true) }
                        var active = true
                        while active {
                            active = false
                            for index in cursors.indices where cursors[index] != .nilSlot {
                                let order = orders[Int(cursors[index])]
                                gathered[index].append(order)
                                cursors[index] = order.next
                                active = true
                            }
                        }
                        for (index, position) in (windowStart..<windowEnd).reversed().enumerated() {
                            try flush()
                            let level = levels[Int(keys[position].level)]
                            output.writeSignedVarint(level.price)
                            output.writeVarint(UInt64(level.orderCount))
                            for order in gathered[index] {
                                output.writeVarint(order.orderID)
                                output.writeVarint(order.userID)
                                output.writeSignedVarint(order.quantity)
                                output.writeSignedVarint(order.remaining)
                                try flush()
                            }
                        }
                        windowEnd = windowStart
                    }
                }
            }
            try flush(force: true)
            for byte in MatchingSnapshotFormat.trailer { output.writeByte(byte) }
            var value = checksum.value.littleEndian
            withUnsafeBytes(of: &value) { for byte in $0 { output.writeByte(byte) } }
            try write(UnsafeRawBufferPointer(rebasing: buffer[0..<output.count]))
        }
    }

    /// Rebuilds an engine from a snapshot streamed from `source`.
    ///
    /// Checks the magic, version, structure (sorted distinct prices, valid quantities,
    /// unique ids), the engine's limits and the checksum; throws `SnapshotError` on the first
    /// problem, leaving nothing behind.
    public static func restore<Source: SnapshotByteSource>(limits: Limits, from source: inout Source) throws -> MatchingEngine {
        try withoutActuallyEscaping({ try source.read(into: $0) }) { read in
            try restore(limits: limits, read: read)
        }
    }

    /// The non-generic body of `restore(limits:from:)` (see `writeSnapshot(books:_:)` for why).
    private static func restore(limits: Limits, read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> MatchingEngine {
        var engine = MatchingEngine(limits: limits)
        _ = try engine.readSnapshot(read: read)
        return engine
    }

    /// Adds the books of a snapshot stream to an empty engine, checking it as `restore` does;
    /// returns their ids in order. On a throw the engine is half built: callers discard it.
    mutating func readSnapshot(read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> [SymbolID] {
        var input = SnapshotInput(read: read)
        for byte in MatchingSnapshotFormat.magic where try input.readByte() != byte { throw SnapshotError.badMagic }
        let version = try input.readVarint()
        guard MatchingSnapshotFormat.readableVersions.contains(version) else { throw SnapshotError.unsupportedVersion(version) }
        let symbolCount = try input.readVarint()
        guard symbolCount <= UInt64(limits.maximumSymbols - books.count) else { throw SnapshotError.exceedsLimits("\(symbolCount) symbols") }
        var noEvents: [MatchingEvent] = []
        noEvents.reserveCapacity(1)
        var sideLevels: [LevelKey] = []
        var added: [SymbolID] = []
        for _ in 0..<Int(symbolCount) {
            let specLength = try input.readVarint()
            guard specLength < 1_024 else { throw SnapshotError.invalidContent("spec length \(specLength)") }
            var specBytes: [UInt8] = []
            for _ in 0..<specLength { specBytes.append(try input.readByte()) }
            let decoded: MatchingCommand
            do {
                decoded = try LogCodec.decodeCommand(specBytes)
            } catch {
                throw SnapshotError.invalidContent("symbol spec: \(error)")
            }
            guard case .addSymbol(let add) = decoded else { throw SnapshotError.invalidContent("symbol spec") }
            noEvents.removeAll(keepingCapacity: true)
            addSymbol(add.spec, into: &noEvents)
            guard case .symbolAdded(let symbolID) = noEvents.first else { throw SnapshotError.invalidContent("symbol \(add.spec.name) refused") }
            let bookIndex = Int(symbolID.rawValue)
            added.append(symbolID)
            let nextTradeID = try input.readVarint()
            guard nextTradeID >= 1, nextTradeID < UInt64.max else {
                throw SnapshotError.invalidContent("\(add.spec.name): next trade id \(nextTradeID)")
            }
            books[bookIndex].nextTradeID = nextTradeID
            let flags = version >= 2 ? try input.readVarint() : 0
            guard flags & ~MatchingSnapshotFormat.movedAwayFlag == 0 else { throw SnapshotError.invalidContent("\(add.spec.name): flags \(flags)") }
            movedAway[bookIndex] = flags & MatchingSnapshotFormat.movedAwayFlag != 0
            for side in OrderSide.allCases {
                sideLevels.removeAll(keepingCapacity: true)
                let levelCount = try input.readVarint()
                guard levelCount <= UInt64(limits.maximumPriceLevels - self.levelCount) else {
                    throw SnapshotError.exceedsLimits("price levels")
                }
                guard levelCount == 0 || !movedAway[bookIndex] else { throw SnapshotError.invalidContent("\(add.spec.name): handed over, yet has levels") }
                for _ in 0..<levelCount {
                    let price = try input.readSignedVarint()
                    let key = side.key(of: price)
                    guard price > 0, sideLevels.last.map({ $0.key > key }) ?? true else {
                        throw SnapshotError.invalidContent("\(add.spec.name) \(side) level order at price \(price)")
                    }
                    let levelSlot = allocateLevel(PriceLevel(
                        price: price, totalQuantity: 0, head: .nilSlot, tail: .nilSlot, orderCount: 0,
                        bookSide: UInt32(bookIndex) << 1 | UInt32(side.rawValue)))
                    sideLevels.append(LevelKey(key: key, level: levelSlot))
                    let orderCount = try input.readVarint()
                    guard orderCount > 0 else { throw SnapshotError.invalidContent("empty level") }
                    guard orderCount <= UInt64(limits.maximumRestingOrders - restingOrderCount) else {
                        throw SnapshotError.exceedsLimits("resting orders")
                    }
                    for _ in 0..<orderCount {
                        try restoreOrder(
                            orderID: try input.readVarint(), userID: try input.readVarint(),
                            quantity: try input.readSignedVarint(), remaining: try input.readSignedVarint(), levelSlot: levelSlot)
                    }
                }
                books[bookIndex].appendLevels(sideLevels.reversed(), side: side)
            }
            if let bid = books[bookIndex].bids.last, let ask = books[bookIndex].asks.last,
               levels[Int(bid.level)].price >= levels[Int(ask.level)].price {
                throw SnapshotError.invalidContent("\(add.spec.name): crossed book")
            }
        }
        let computed = input.checksumOfConsumedBytes()
        for byte in MatchingSnapshotFormat.trailer where try input.readByte() != byte {
            throw SnapshotError.invalidContent("missing trailer")
        }
        var stored: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: 8) { stored |= UInt64(try input.readByte()) << shift }
        guard stored == computed else { throw SnapshotError.checksumMismatch }
        guard try input.isAtEnd() else { throw SnapshotError.invalidContent("bytes after the trailer") }
        return added
    }

    /// Appends one order at the tail of `levelSlot` during a restore. (An order may rest above
    /// its symbol's maximum quantity: the maximum may have been lowered since it was placed.)
    mutating func restoreOrder(orderID: OrderID, userID: UserID, quantity: Int64, remaining: Int64, levelSlot: Slot) throws {
        guard remaining > 0, remaining <= quantity else {
            throw SnapshotError.invalidContent("order \(orderID): remaining \(remaining) of \(quantity)")
        }
        guard findSlot(orderID) == .nilSlot else {
            throw SnapshotError.invalidContent("order \(orderID) twice")
        }
        guard !levels[Int(levelSlot)].totalQuantity.addingReportingOverflow(remaining).overflow else {
            throw SnapshotError.invalidContent("order \(orderID): level total overflows")
        }
        appendToLevel(orderID: orderID, userID: userID, quantity: quantity, remaining: remaining, levelSlot: levelSlot)
    }
}

/// Reads a snapshot stream through a 64 KiB buffer, checksumming what it consumes.
private struct SnapshotInput {
    let read: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: [UInt8] = Array(repeating: 0, count: MatchingSnapshotFormat.chunkBytes)
    private var position = 0
    private var filled = 0
    private var checksummedUpTo = 0
    private var checksum = Checksum64()

    init(read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) { self.read = read }

    private mutating func refill() throws -> Bool {
        buffer.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[checksummedUpTo..<filled])) }
        position = 0
        checksummedUpTo = 0
        filled = try buffer.withUnsafeMutableBytes { try read($0) }
        return filled > 0
    }

    @inline(__always)
    mutating func readByte() throws -> UInt8 {
        if position == filled, try !refill() { throw SnapshotError.truncated }
        defer { position += 1 }
        return buffer[position]
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            guard shift < 64, shift < 63 || byte <= 1 else { throw SnapshotError.invalidContent("varint overflow") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    mutating func readSignedVarint() throws -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// The checksum of every byte consumed so far.
    mutating func checksumOfConsumedBytes() -> UInt64 {
        buffer.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[checksummedUpTo..<position])) }
        checksummedUpTo = position
        return checksum.value
    }

    mutating func isAtEnd() throws -> Bool {
        if position < filled { return false }
        return try !refill()
    }
}

/// Writes bytes and varints into a fixed buffer through its pointer.
///
/// Invariant: `0 <= count <= buffer.count`; the caller flushes often enough that a write
/// never passes the end (checked by `precondition`, kept on in release).
private struct StagingWriter {
    let buffer: UnsafeMutableRawBufferPointer
    var count = 0

    @inline(__always)
    mutating func writeByte(_ byte: UInt8) {
        precondition(count < buffer.count, "snapshot staging buffer overflow")
        buffer[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func writeVarint(_ value: UInt64) {
        precondition(count + 10 <= buffer.count, "snapshot staging buffer overflow")
        var value = value
        while value >= 0x80 {
            buffer.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            value >>= 7
        }
        buffer.storeBytes(of: UInt8(value), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}
