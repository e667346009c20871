import ExchangeCore

/// The binary form of clearing log entries: inputs (`clr:{p}:in`) and the events of each
/// (`clr:{p}:out`).
///
/// Input: `version · producer · position · count · (tag · fields)…`; output:
/// `count · (tag · fields)…`. Integers are varints (signed ones zig-zag), enums one byte,
/// strings length-prefixed UTF-8, as `BinaryWriter` writes them. Decoding refuses unknown
/// versions and tags, invalid values, truncation and trailing bytes, so a corrupt entry is
/// never half-applied. Version 1 is the only version.
public enum ClearingLogCodec {
    public static let version: UInt8 = 1
    /// The longest adjustment reason kept.
    public static let maximumMemoLength = 256

    enum CommandTag: UInt8 {
        case addAsset = 1, addSymbol, setSymbolStatus, deposit, holdWithdrawal, completeWithdrawal, releaseWithdrawal
        case place, orderEnded, tradeLeg, adjust, orderAmended, cancel, setSymbolParameters
    }

    enum EventTag: UInt8 {
        case transaction = 1, forward, rejected, duplicateInput, assetAdded, symbolAdded, symbolStatusChanged, forwardCancel, symbolParametersChanged
    }

    enum AccountTag: UInt8 {
        case available = 1, frozen, fees, external, adjustments, settlement
    }

    // MARK: Inputs

    public static func encode(_ input: ClearingInput) -> [UInt8] {
        var writer = BinaryWriter(capacity: 32 + 48 * input.commands.count)
        writer.writeByte(version)
        writer.writeString(input.producer.name)
        writer.writeVarint(input.position)
        writer.writeVarint(UInt64(input.commands.count))
        for command in input.commands { write(command, into: &writer) }
        return writer.bytes
    }

    public static func decodeInput(_ bytes: [UInt8]) throws(BinaryDecodingError) -> ClearingInput {
        var reader = BinaryReader(bytes)
        let producer = try readProducer(&reader)
        let position = try reader.readVarint()
        let count = try readCount(&reader, limit: bytes.count)
        var commands: [ClearingCommand] = []
        commands.reserveCapacity(count)
        for _ in 0..<count { commands.append(try readCommand(&reader)) }
        guard reader.isAtEnd else { throw .trailingBytes }
        return ClearingInput(producer: producer, position: position, commands: commands)
    }

    /// The producer of an encoded input, reading nothing after it.
    public static func decodeProducer(_ bytes: [UInt8]) throws(BinaryDecodingError) -> ProducerID {
        var reader = BinaryReader(bytes)
        return try readProducer(&reader)
    }

    /// An input's version byte (checked) and producer.
    private static func readProducer(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> ProducerID {
        let version = try reader.readByte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        return ProducerID(try reader.readString(maximumLength: ClearingState.maximumProducerLength))
    }

    static func write(_ command: ClearingCommand, into writer: inout BinaryWriter) {
        switch command {
        case .addAsset(let spec):
            writer.writeByte(CommandTag.addAsset.rawValue)
            writer.writeString(spec.code.text)
            writer.writeVarint(UInt64(spec.scale))
        case .addSymbol(let symbol):
            writer.writeByte(CommandTag.addSymbol.rawValue)
            writer.writeString(symbol.name)
            writer.writeString(symbol.base.text)
            writer.writeString(symbol.quote.text)
            writer.writeSignedVarint(symbol.baseUnitsPerLot)
            writer.writeSignedVarint(symbol.quoteUnitsPerTickLot)
            writer.writeSignedVarint(symbol.minimumNotionalUnits)
            writer.writeVarint(UInt64(symbol.makerFeeBasisPoints))
            writer.writeVarint(UInt64(symbol.takerFeeBasisPoints))
            writer.writeByte(symbol.status.rawValue)
        case .setSymbolStatus(let symbol, let status):
            writer.writeByte(CommandTag.setSymbolStatus.rawValue)
            writer.writeString(symbol)
            writer.writeByte(status.rawValue)
        case .setSymbolParameters(let symbol, let maker, let taker, let minimumNotional):
            writer.writeByte(CommandTag.setSymbolParameters.rawValue)
            writer.writeString(symbol)
            writer.writeVarint(UInt64(clamping: maker))
            writer.writeVarint(UInt64(clamping: taker))
            writer.writeSignedVarint(minimumNotional)
        case .deposit(let user, let asset, let amount, let reference):
            writer.writeByte(CommandTag.deposit.rawValue)
            writeMovement(user: user, asset: asset, amount: amount, into: &writer)
            writer.writeVarint(reference)
        case .holdWithdrawal(let id, let user, let asset, let amount):
            writer.writeByte(CommandTag.holdWithdrawal.rawValue)
            writer.writeVarint(id)
            writeMovement(user: user, asset: asset, amount: amount, into: &writer)
        case .completeWithdrawal(let id):
            writer.writeByte(CommandTag.completeWithdrawal.rawValue)
            writer.writeVarint(id)
        case .releaseWithdrawal(let id):
            writer.writeByte(CommandTag.releaseWithdrawal.rawValue)
            writer.writeVarint(id)
        case .place(let order):
            writer.writeByte(CommandTag.place.rawValue)
            write(order, into: &writer)
        case .cancel(let orderID, let userID):
            writer.writeByte(CommandTag.cancel.rawValue)
            writer.writeVarint(orderID)
            writer.writeVarint(userID)
        case .orderEnded(let orderID, let userID):
            writer.writeByte(CommandTag.orderEnded.rawValue)
            writer.writeVarint(orderID)
            writer.writeVarint(userID)
        case .orderAmended(let orderID, let userID, let releasedLots):
            writer.writeByte(CommandTag.orderAmended.rawValue)
            writer.writeVarint(orderID)
            writer.writeVarint(userID)
            writer.writeSignedVarint(releasedLots)
        case .tradeLeg(let leg):
            writer.writeByte(CommandTag.tradeLeg.rawValue)
            writer.writeVarint(leg.tradeID)
            writer.writeVarint(leg.orderID)
            writer.writeVarint(leg.userID)
            writer.writeSignedVarint(leg.price.ticks)
            writer.writeSignedVarint(leg.quantity.lots)
            writer.writeByte(leg.isMaker ? 1 : 0)
        case .adjust(let user, let asset, let amount, let reason):
            writer.writeByte(CommandTag.adjust.rawValue)
            writeMovement(user: user, asset: asset, amount: amount, into: &writer)
            writer.writeString(String(decoding: reason.utf8.prefix(maximumMemoLength), as: UTF8.self))
        }
    }

    static func readCommand(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> ClearingCommand {
        let rawTag = try reader.readByte()
        guard let tag = CommandTag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
        switch tag {
        case .addAsset:
            let code = try readAsset(&reader)
            let scale = try reader.readVarint()
            guard scale <= UInt64(AssetSpec.maximumScale), let spec = try? AssetSpec(code: code, scale: Int(scale)) else {
                throw .invalidValue("asset scale \(scale)")
            }
            return .addAsset(spec)
        case .addSymbol:
            let symbol = ClearingSymbol(
                name: try reader.readString(maximumLength: SymbolSpec.maximumNameLength), base: try readAsset(&reader),
                quote: try readAsset(&reader), baseUnitsPerLot: try reader.readSignedVarint(),
                quoteUnitsPerTickLot: try reader.readSignedVarint(), minimumNotionalUnits: try reader.readSignedVarint(),
                makerFeeBasisPoints: try readFee(&reader), takerFeeBasisPoints: try readFee(&reader),
                status: try reader.readEnum(SymbolStatus.self))
            guard symbol.isValid else { throw .invalidValue("symbol \(symbol.name)") }
            return .addSymbol(symbol)
        case .setSymbolStatus:
            return .setSymbolStatus(
                symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength), status: try reader.readEnum(SymbolStatus.self))
        case .setSymbolParameters:
            return .setSymbolParameters(
                symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength),
                makerBasisPoints: try readFee(&reader), takerBasisPoints: try readFee(&reader), minimumNotionalUnits: try readNotional(&reader))
        case .deposit:
            let (user, asset, amount) = try readMovement(&reader)
            return .deposit(user: user, asset: asset, amount: amount, reference: try reader.readVarint())
        case .holdWithdrawal:
            let id = try reader.readVarint()
            let (user, asset, amount) = try readMovement(&reader)
            return .holdWithdrawal(id: id, user: user, asset: asset, amount: amount)
        case .completeWithdrawal:
            return .completeWithdrawal(id: try reader.readVarint())
        case .releaseWithdrawal:
            return .releaseWithdrawal(id: try reader.readVarint())
        case .place:
            return .place(try readOrder(&reader))
        case .cancel:
            return .cancel(orderID: try reader.readVarint(), userID: try reader.readVarint())
        case .orderEnded:
            return .orderEnded(orderID: try reader.readVarint(), userID: try reader.readVarint())
        case .orderAmended:
            return .orderAmended(orderID: try reader.readVarint(), userID: try reader.readVarint(), releasedLots: try reader.readSignedVarint())
        case .tradeLeg:
            let leg = TradeLeg(
                tradeID: try reader.readVarint(), orderID: try reader.readVarint(), userID: try reader.readVarint(),
                price: Price(ticks: try reader.readSignedVarint()), quantity: Quantity(lots: try reader.readSignedVarint()),
                isMaker: try readFlag(&reader))
            return .tradeLeg(leg)
        case .adjust:
            let (user, asset, amount) = try readMovement(&reader)
            return .adjust(user: user, asset: asset, amount: amount, reason: try reader.readString(maximumLength: maximumMemoLength))
        }
    }

    // MARK: Outputs

    public static func encode(_ events: [ClearingEvent]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 16 + 96 * events.count)
        writer.writeVarint(UInt64(events.count))
        for event in events {
            switch event {
            case .transaction(let transaction):
                writer.writeByte(EventTag.transaction.rawValue)
                writer.writeVarint(transaction.id)
                write(transaction.cause, into: &writer)
                writer.writeByte(transaction.kind.rawValue)
                writer.writeString(transaction.memo)
                writer.writeVarint(UInt64(transaction.entries.count))
                for entry in transaction.entries {
                    write(entry.account, into: &writer)
                    writer.writeString(entry.asset.text)
                    writer.writeSignedVarint(entry.amount)
                }
            case .forward(let order, let tickLotBudget):
                writer.writeByte(EventTag.forward.rawValue)
                write(order, into: &writer)
                writer.writeSignedVarint(tickLotBudget)
            case .forwardCancel(let orderID, let userID, let symbol):
                writer.writeByte(EventTag.forwardCancel.rawValue)
                writer.writeVarint(orderID)
                writer.writeVarint(userID)
                writer.writeString(symbol)
            case .rejected(let cause, let reason):
                writer.writeByte(EventTag.rejected.rawValue)
                write(cause, into: &writer)
                writer.writeByte(reason.rawValue)
            case .duplicateInput(let producer, let position):
                writer.writeByte(EventTag.duplicateInput.rawValue)
                writer.writeString(producer.name)
                writer.writeVarint(position)
            case .assetAdded(let code):
                writer.writeByte(EventTag.assetAdded.rawValue)
                writer.writeString(code.text)
            case .symbolAdded(let name):
                writer.writeByte(EventTag.symbolAdded.rawValue)
                writer.writeString(name)
            case .symbolStatusChanged(let name, let status):
                writer.writeByte(EventTag.symbolStatusChanged.rawValue)
                writer.writeString(name)
                writer.writeByte(status.rawValue)
            case .symbolParametersChanged(let name, let maker, let taker, let minimumNotional):
                writer.writeByte(EventTag.symbolParametersChanged.rawValue)
                writer.writeString(name)
                writer.writeVarint(UInt64(clamping: maker))
                writer.writeVarint(UInt64(clamping: taker))
                writer.writeSignedVarint(minimumNotional)
            }
        }
        return writer.bytes
    }

    public static func decodeEvents(_ bytes: [UInt8]) throws(BinaryDecodingError) -> [ClearingEvent] {
        var reader = BinaryReader(bytes)
        let count = try readCount(&reader, limit: bytes.count)
        var events: [ClearingEvent] = []
        events.reserveCapacity(count)
        for _ in 0..<count {
            let rawTag = try reader.readByte()
            guard let tag = EventTag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
            switch tag {
            case .transaction:
                let id = try reader.readVarint()
                let cause = try readCause(&reader)
                let kind = try reader.readEnum(LedgerTransaction.Kind.self)
                let memo = try reader.readString(maximumLength: maximumMemoLength)
                let entryCount = try readCount(&reader, limit: bytes.count)
                var entries: [LedgerEntry] = []
                for _ in 0..<entryCount {
                    entries.append(LedgerEntry(account: try readAccount(&reader), asset: try readAsset(&reader), amount: try reader.readSignedVarint()))
                }
                events.append(.transaction(LedgerTransaction(id: id, cause: cause, kind: kind, entries: entries, memo: memo)))
            case .forward:
                events.append(.forward(try readOrder(&reader), tickLotBudget: try reader.readSignedVarint()))
            case .forwardCancel:
                events.append(.forwardCancel(
                    orderID: try reader.readVarint(), userID: try reader.readVarint(),
                    symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength)))
            case .rejected:
                events.append(.rejected(cause: try readCause(&reader), reason: try reader.readEnum(ClearingRejection.self)))
            case .duplicateInput:
                events.append(.duplicateInput(
                    producer: ProducerID(try reader.readString(maximumLength: ClearingState.maximumProducerLength)), position: try reader.readVarint()))
            case .assetAdded:
                events.append(.assetAdded(try readAsset(&reader)))
            case .symbolAdded:
                events.append(.symbolAdded(try reader.readString(maximumLength: SymbolSpec.maximumNameLength)))
            case .symbolStatusChanged:
                events.append(.symbolStatusChanged(
                    try reader.readString(maximumLength: SymbolSpec.maximumNameLength), try reader.readEnum(SymbolStatus.self)))
            case .symbolParametersChanged:
                events.append(.symbolParametersChanged(
                    try reader.readString(maximumLength: SymbolSpec.maximumNameLength),
                    makerBasisPoints: try readFee(&reader), takerBasisPoints: try readFee(&reader), minimumNotionalUnits: try readNotional(&reader)))
            }
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return events
    }

    // MARK: Parts

    static func write(_ order: ClearingOrder, into writer: inout BinaryWriter) {
        writer.writeVarint(order.orderID)
        writer.writeVarint(order.userID)
        writer.writeString(order.symbol)
        writer.writeByte(order.side.rawValue)
        writer.writeByte(order.type.rawValue)
        writer.writeByte(order.timeInForce.rawValue)
        writer.writeSignedVarint(order.price.ticks)
        writer.writeSignedVarint(order.quantity.lots)
        writer.writeByte(order.selfTradePrevention.rawValue)
        if let budget = order.quoteBudget {
            writer.writeByte(1)
            writer.writeSignedVarint(budget)
        } else {
            writer.writeByte(0)
        }
    }

    static func readOrder(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> ClearingOrder {
        ClearingOrder(
            orderID: try reader.readVarint(), userID: try reader.readVarint(),
            symbol: try reader.readString(maximumLength: SymbolSpec.maximumNameLength), side: try reader.readEnum(OrderSide.self),
            type: try reader.readEnum(OrderType.self), timeInForce: try reader.readEnum(TimeInForce.self),
            price: Price(ticks: try reader.readSignedVarint()), quantity: Quantity(lots: try reader.readSignedVarint()),
            selfTradePrevention: try reader.readEnum(SelfTradePrevention.self),
            quoteBudget: try readFlag(&reader) ? try reader.readSignedVarint() : nil)
    }

    static func write(_ cause: ClearingCause, into writer: inout BinaryWriter) {
        writer.writeString(cause.producer.name)
        writer.writeVarint(cause.position)
        writer.writeVarint(UInt64(cause.index))
    }

    static func readCause(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> ClearingCause {
        let producer = ProducerID(try reader.readString(maximumLength: ClearingState.maximumProducerLength))
        let position = try reader.readVarint()
        let index = try reader.readVarint()
        guard index <= UInt64(Int32.max) else { throw .invalidValue("command index \(index)") }
        return ClearingCause(producer: producer, position: position, index: Int(index))
    }

    static func write(_ account: LedgerAccount, into writer: inout BinaryWriter) {
        switch account {
        case .available(let user):
            writer.writeByte(AccountTag.available.rawValue)
            writer.writeVarint(user)
        case .frozen(let user):
            writer.writeByte(AccountTag.frozen.rawValue)
            writer.writeVarint(user)
        case .fees: writer.writeByte(AccountTag.fees.rawValue)
        case .external: writer.writeByte(AccountTag.external.rawValue)
        case .adjustments: writer.writeByte(AccountTag.adjustments.rawValue)
        case .settlement: writer.writeByte(AccountTag.settlement.rawValue)
        }
    }

    static func readAccount(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> LedgerAccount {
        switch try reader.readEnum(AccountTag.self) {
        case .available: .available(try reader.readVarint())
        case .frozen: .frozen(try reader.readVarint())
        case .fees: .fees
        case .external: .external
        case .adjustments: .adjustments
        case .settlement: .settlement
        }
    }

    static func writeMovement(user: UserID, asset: AssetCode, amount: Int64, into writer: inout BinaryWriter) {
        writer.writeVarint(user)
        writer.writeString(asset.text)
        writer.writeSignedVarint(amount)
    }

    static func readMovement(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> (UserID, AssetCode, Int64) {
        (try reader.readVarint(), try readAsset(&reader), try reader.readSignedVarint())
    }

    static func readAsset(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> AssetCode {
        let text = try reader.readString(maximumLength: AssetCode.maximumLength)
        guard let code = AssetCode(text) else { throw .invalidValue("asset code '\(text)'") }
        return code
    }

    static func readFee(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> Int {
        let fee = try reader.readVarint()
        guard fee <= UInt64(ClearingSymbol.maximumFeeBasisPoints) else { throw .invalidValue("fee \(fee) bps") }
        return Int(fee)
    }

    static func readNotional(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> Int64 {
        let units = try reader.readSignedVarint()
        guard units >= 0 else { throw .invalidValue("minimum notional \(units)") }
        return units
    }

    static func readFlag(_ reader: inout BinaryReader<[UInt8]>) throws(BinaryDecodingError) -> Bool {
        switch try reader.readByte() {
        case 0: false
        case 1: true
        case let other: throw .invalidValue("flag \(other)")
        }
    }

    static func readCount(_ reader: inout BinaryReader<[UInt8]>, limit: Int) throws(BinaryDecodingError) -> Int {
        let count = try reader.readVarint()
        guard count <= UInt64(limit) else { throw .invalidValue("count \(count)") }
        return Int(count)
    }
}
