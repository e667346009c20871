import ExchangeCore

/// The binary form of a clearing partition's state: everything in sorted order, so equal
/// states give equal bytes (the digest is their checksum). Layout: `version` then each
/// collection as `count · items`; symbols and accounts in their `ClearingLogCodec` form.
extension ClearingState {
    static let snapshotVersion: UInt8 = 1
    static let maximumProducerLength = 64

    public func snapshotBytes() -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 * (balances.count + openOrders.count) + 256)
        writer.writeByte(Self.snapshotVersion)
        writer.writeVarint(UInt64(assets.count))
        for spec in assets.values.sorted(by: { $0.code < $1.code }) {
            ClearingLogCodec.write(.addAsset(spec), into: &writer)
        }
        writer.writeVarint(UInt64(symbols.count))
        for symbol in symbols.values.sorted(by: { $0.name < $1.name }) {
            ClearingLogCodec.write(.addSymbol(symbol), into: &writer)
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
            ClearingLogCodec.write(key.account, into: &writer)
            writer.writeString(key.asset.text)
            writer.writeSignedVarint(value)
        }
        writer.writeVarint(UInt64(openOrders.count))
        for (id, order) in openOrders.sorted(by: { $0.key < $1.key }) {
            writer.writeVarint(id)
            writer.writeVarint(order.userID)
            writer.writeString(order.symbol)
            writer.writeByte(order.side.rawValue)
            writer.writeSignedVarint(order.price.ticks)
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
            func asset() throws -> AssetCode { try ClearingLogCodec.readAsset(&reader) }
            func count() throws -> Int {
                let value = try reader.readVarint()
                guard value <= UInt64(bytes.count) else { throw SnapshotError.invalidContent("count \(value)") }
                return Int(value)
            }
            for _ in 0..<(try count()) {
                guard case .addAsset(let spec) = try ClearingLogCodec.readCommand(&reader) else { throw SnapshotError.invalidContent("an asset") }
                assets[spec.code] = spec
            }
            for _ in 0..<(try count()) {
                guard case .addSymbol(let symbol) = try ClearingLogCodec.readCommand(&reader),
                      assets[symbol.base] != nil, assets[symbol.quote] != nil else {
                    throw SnapshotError.invalidContent("a symbol")
                }
                symbols[symbol.name] = symbol
            }
            for _ in 0..<(try count()) {
                let key = AccountKey(user: try reader.readVarint(), asset: try asset())
                balances[key] = Balance(available: try reader.readSignedVarint(), frozen: try reader.readSignedVarint())
            }
            for _ in 0..<(try count()) {
                let account = try ClearingLogCodec.readAccount(&reader)
                if case .available = account { throw SnapshotError.invalidContent("a user account among system balances") }
                if case .frozen = account { throw SnapshotError.invalidContent("a user account among system balances") }
                systemBalances[SystemKey(account: account, asset: try asset())] = try reader.readSignedVarint()
            }
            for _ in 0..<(try count()) {
                let id = try reader.readVarint()
                openOrders[id] = OpenOrder(
                    userID: try reader.readVarint(), symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength),
                    side: try reader.readEnum(OrderSide.self), price: Price(ticks: try reader.readSignedVarint()), asset: try asset(),
                    frozen: try reader.readSignedVarint())
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
