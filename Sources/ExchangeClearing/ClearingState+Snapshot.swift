import ExchangeCore

/// The binary form of a clearing partition's state: everything in sorted order, so equal
/// states give equal bytes (the digest is their checksum). Layout: `version` then each
/// collection as `count · items`, varints and strings as `BinaryWriter` writes them.
extension ClearingState {
    static let snapshotVersion: UInt8 = 1
    static let maximumProducerLength = 64

    enum SystemAccountTag: UInt8 {
        case fees = 1, external, adjustments, settlement
    }

    public func snapshotBytes() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 * (balances.count + openOrders.count) + 256)
        writer.writeByte(Self.snapshotVersion)
        writer.writeVarint(UInt64(assets.count))
        for spec in assets.values.sorted(by: { $0.code < $1.code }) {
            writer.writeString(spec.code.text)
            writer.writeVarint(UInt64(spec.scale))
        }
        writer.writeVarint(UInt64(symbols.count))
        for symbol in symbols.values.sorted(by: { $0.name < $1.name }) {
            writer.writeString(symbol.name)
            writer.writeString(symbol.base.text)
            writer.writeString(symbol.quote.text)
            writer.writeSignedVarint(symbol.baseUnitsPerLot)
            writer.writeSignedVarint(symbol.quoteUnitsPerTickLot)
            writer.writeSignedVarint(symbol.minimumNotionalUnits)
            writer.writeVarint(UInt64(symbol.makerFeeBasisPoints))
            writer.writeVarint(UInt64(symbol.takerFeeBasisPoints))
            writer.writeByte(symbol.status.rawValue)
        }
        writer.writeVarint(UInt64(balances.count))
        for (key, balance) in balances.sorted(by: { $0.key < $1.key }) {
            writer.writeVarint(key.user)
            writer.writeString(key.asset.text)
            writer.writeSignedVarint(balance.available)
            writer.writeSignedVarint(balance.frozen)
        }
        writer.writeVarint(UInt64(systemBalances.count))
        for (key, value) in systemBalances.sorted(by: { $0.key < $1.key }) {
            let tag: SystemAccountTag
            switch key.account {
            case .fees: tag = .fees
            case .external: tag = .external
            case .adjustments: tag = .adjustments
            case .settlement: tag = .settlement
            case .available, .frozen: preconditionFailure("user accounts are not system balances")
            }
            writer.writeByte(tag.rawValue)
            writer.writeString(key.asset.text)
            writer.writeSignedVarint(value)
        }
        writer.writeVarint(UInt64(openOrders.count))
        for (id, order) in openOrders.sorted(by: { $0.key < $1.key }) {
            writer.writeVarint(id)
            writer.writeVarint(order.userID)
            writer.writeString(order.symbol)
            writer.writeByte(order.side.rawValue)
            writer.writeString(order.asset.text)
            writer.writeSignedVarint(order.frozen)
        }
        writer.writeVarint(UInt64(withdrawals.count))
        for (id, withdrawal) in withdrawals.sorted(by: { $0.key < $1.key }) {
            writer.writeVarint(id)
            writer.writeVarint(withdrawal.user)
            writer.writeString(withdrawal.asset.text)
            writer.writeSignedVarint(withdrawal.amount)
        }
        writer.writeVarint(UInt64(lastPositions.count))
        for (producer, position) in lastPositions.sorted(by: { $0.key < $1.key }) {
            writer.writeString(producer.name)
            writer.writeVarint(position)
        }
        writer.writeVarint(nextTransactionID)
        return writer.bytes
    }

    /// Rebuilds a state from `snapshotBytes()`; refuses bytes that do not decode whole or
    /// give a state that breaks an invariant.
    public init(snapshotBytes bytes: [UInt8]) throws(SnapshotError) {
        self.init()
        var reader = BinaryReader(bytes)
        do {
            let version = try reader.readByte()
            guard version == Self.snapshotVersion else { throw SnapshotError.unsupportedVersion(UInt64(version)) }
            func asset() throws -> AssetCode {
                let text = try reader.readString(maximumLength: AssetCode.maximumLength)
                guard let code = AssetCode(text) else { throw SnapshotError.invalidContent("asset code '\(text)'") }
                return code
            }
            func count() throws -> Int {
                let value = try reader.readVarint()
                guard value <= UInt64(bytes.count) else { throw SnapshotError.invalidContent("count \(value)") }
                return Int(value)
            }
            func int(_ value: UInt64, in range: ClosedRange<Int>) throws -> Int {
                guard value <= UInt64(range.upperBound), Int(value) >= range.lowerBound else { throw SnapshotError.invalidContent("value \(value)") }
                return Int(value)
            }
            for _ in 0..<(try count()) {
                let code = try asset()
                let spec = try AssetSpec(code: code, scale: try int(try reader.readVarint(), in: 0...AssetSpec.maximumScale))
                assets[code] = spec
            }
            for _ in 0..<(try count()) {
                let symbol = ClearingSymbol(
                    name: try reader.readString(maximumLength: SymbolSpec.maximumNameLength), base: try asset(), quote: try asset(),
                    baseUnitsPerLot: try reader.readSignedVarint(), quoteUnitsPerTickLot: try reader.readSignedVarint(),
                    minimumNotionalUnits: try reader.readSignedVarint(),
                    makerFeeBasisPoints: try int(try reader.readVarint(), in: 0...ClearingSymbol.maximumFeeBasisPoints),
                    takerFeeBasisPoints: try int(try reader.readVarint(), in: 0...ClearingSymbol.maximumFeeBasisPoints),
                    status: try reader.readEnum(SymbolStatus.self))
                guard symbol.isValid, assets[symbol.base] != nil, assets[symbol.quote] != nil else {
                    throw SnapshotError.invalidContent("symbol \(symbol.name)")
                }
                symbols[symbol.name] = symbol
            }
            for _ in 0..<(try count()) {
                let key = AccountKey(user: try reader.readVarint(), asset: try asset())
                balances[key] = Balance(available: try reader.readSignedVarint(), frozen: try reader.readSignedVarint())
            }
            for _ in 0..<(try count()) {
                let account: LedgerAccount = switch try reader.readEnum(SystemAccountTag.self) {
                case .fees: .fees
                case .external: .external
                case .adjustments: .adjustments
                case .settlement: .settlement
                }
                systemBalances[SystemKey(account: account, asset: try asset())] = try reader.readSignedVarint()
            }
            for _ in 0..<(try count()) {
                let id = try reader.readVarint()
                openOrders[id] = OpenOrder(
                    userID: try reader.readVarint(), symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength),
                    side: try reader.readEnum(OrderSide.self), asset: try asset(), frozen: try reader.readSignedVarint())
            }
            for _ in 0..<(try count()) {
                let id = try reader.readVarint()
                withdrawals[id] = PendingWithdrawal(user: try reader.readVarint(), asset: try asset(), amount: try reader.readSignedVarint())
            }
            for _ in 0..<(try count()) {
                let producer = ProducerID(try reader.readString(maximumLength: Self.maximumProducerLength))
                lastPositions[producer] = try reader.readVarint()
            }
            nextTransactionID = try reader.readVarint()
            guard reader.isAtEnd else { throw SnapshotError.invalidContent("bytes after the state") }
            try checkInvariants()
        } catch let error as SnapshotError {
            throw error
        } catch let error as BinaryDecodingError {
            throw .invalidContent("clearing state: \(error)")
        } catch {
            throw .invalidContent("clearing state: \(error)")
        }
    }
}
