/// The binary form of log entries: matching commands (input logs) and events (output logs).
///
/// Layout of one entry: `version (1 byte) · tag (1 byte) · fields`. Integers are LEB128
/// varints (signed ones zig-zag), enums one byte, strings length-prefixed UTF-8. A decoder
/// refuses unknown versions and tags, truncation and trailing bytes, so a corrupt entry is
/// never half-applied. Version 1 is the only version; a new field means a new version, and
/// decoders keep reading every older one.
public enum LogCodec {
    public static let version: UInt8 = 1

    enum CommandTag: UInt8 {
        case place = 1, cancel = 2, amend = 3, addSymbol = 4, setSymbolStatus = 5
        /// A place with a quote budget (`place` fields, then the budget): written only when
        /// the budget is set, so budget-free entries keep their form.
        case placeWithBudget = 6
        case setSymbolFilters = 7
    }

    enum EventTag: UInt8 {
        case accepted = 1, rejected = 2, traded = 3, canceled = 4, expired = 5, amended = 6
        case levelChanged = 7, symbolAdded = 8, symbolStatusChanged = 9
        /// `accepted` of an order with a quote budget.
        case acceptedWithBudget = 10
        case symbolFiltersChanged = 11
    }

    // MARK: Commands

    public static func encode(_ command: MatchingCommand, into writer: inout BinaryWriter) {
        writer.writeByte(version)
        switch command {
        case .place(let place):
            writer.writeByte((place.quoteBudget == 0 ? CommandTag.place : .placeWithBudget).rawValue)
            write(place, into: &writer)
        case .cancel(let cancel):
            writer.writeByte(CommandTag.cancel.rawValue)
            writer.writeVarint(cancel.orderID)
            writer.writeVarint(cancel.userID)
            writer.writeVarint(UInt64(cancel.symbolID.rawValue))
        case .amend(let amend):
            writer.writeByte(CommandTag.amend.rawValue)
            writer.writeVarint(amend.orderID)
            writer.writeVarint(amend.userID)
            writer.writeVarint(UInt64(amend.symbolID.rawValue))
            writer.writeSignedVarint(amend.newQuantity.lots)
        case .addSymbol(let add):
            writer.writeByte(CommandTag.addSymbol.rawValue)
            let spec = add.spec
            writer.writeString(spec.name)
            write(spec.tickSize, into: &writer)
            write(spec.stepSize, into: &writer)
            writer.writeSignedVarint(spec.minimumQuantity.lots)
            writer.writeSignedVarint(spec.maximumQuantity.lots)
            write(spec.minimumNotional, into: &writer)
            writer.writeByte(spec.status.rawValue)
        case .setSymbolStatus(let change):
            writer.writeByte(CommandTag.setSymbolStatus.rawValue)
            writer.writeVarint(UInt64(change.symbolID.rawValue))
            writer.writeByte(change.status.rawValue)
        case .setSymbolFilters(let change):
            writer.writeByte(CommandTag.setSymbolFilters.rawValue)
            writer.writeVarint(UInt64(change.symbolID.rawValue))
            writer.writeSignedVarint(change.minimumQuantity.lots)
            writer.writeSignedVarint(change.maximumQuantity.lots)
            write(change.minimumNotional, into: &writer)
        }
    }

    public static func encode(_ command: MatchingCommand) -> [UInt8] {
        var writer = BinaryWriter()
        encode(command, into: &writer)
        return writer.bytes
    }

    // Specialized for the callers' byte types: other modules cannot specialize it, and the
    // generic form looks up type metadata on every call.
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public static func decodeCommand<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes
    ) throws(BinaryDecodingError) -> MatchingCommand where Bytes.Index == Int {
        var reader = BinaryReader(bytes)
        try readVersion(&reader)
        let rawTag = try reader.readByte()
        guard let tag = CommandTag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
        let command: MatchingCommand
        switch tag {
        case .place:
            command = .place(try readPlace(&reader))
        case .placeWithBudget:
            command = .place(try readPlace(&reader, withBudget: true))
        case .cancel:
            command = .cancel(CancelOrder(
                orderID: try reader.readVarint(), userID: try reader.readVarint(),
                symbolID: try readSymbolID(&reader)))
        case .amend:
            command = .amend(AmendOrder(
                orderID: try reader.readVarint(), userID: try reader.readVarint(),
                symbolID: try readSymbolID(&reader), newQuantity: Quantity(lots: try reader.readSignedVarint())))
        case .addSymbol:
            let name = try reader.readString(maximumLength: SymbolSpec.maximumNameLength)
            let tick = try readDecimal(&reader)
            let step = try readDecimal(&reader)
            let minimum = Quantity(lots: try reader.readSignedVarint())
            let maximum = Quantity(lots: try reader.readSignedVarint())
            let minimumNotional = try readDecimal(&reader)
            let status = try reader.readEnum(SymbolStatus.self)
            do {
                let spec = try SymbolSpec(
                    name: name, tickSize: tick, stepSize: step, minimumQuantity: minimum,
                    maximumQuantity: maximum, minimumNotional: minimumNotional, status: status)
                command = .addSymbol(AddSymbol(spec: spec))
            } catch {
                throw .invalidValue(error.description)
            }
        case .setSymbolStatus:
            command = .setSymbolStatus(SetSymbolStatus(
                symbolID: try readSymbolID(&reader), status: try reader.readEnum(SymbolStatus.self)))
        case .setSymbolFilters:
            command = .setSymbolFilters(SetSymbolFilters(
                symbolID: try readSymbolID(&reader), minimumQuantity: Quantity(lots: try reader.readSignedVarint()),
                maximumQuantity: Quantity(lots: try reader.readSignedVarint()), minimumNotional: try readDecimal(&reader)))
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return command
    }

    // MARK: Events

    public static func encode(_ event: MatchingEvent, into writer: inout BinaryWriter) {
        writer.writeByte(version)
        switch event {
        case .accepted(let accepted):
            writer.writeByte((accepted.order.quoteBudget == 0 ? EventTag.accepted : .acceptedWithBudget).rawValue)
            write(accepted.order, into: &writer)
        case .rejected(let rejected):
            writer.writeByte(EventTag.rejected.rawValue)
            writer.writeByte(rejected.command.rawValue)
            writer.writeVarint(rejected.orderID)
            writer.writeVarint(rejected.userID)
            writer.writeVarint(UInt64(rejected.symbolID.rawValue))
            writer.writeByte(rejected.reason.rawValue)
        case .traded(let trade):
            writer.writeByte(EventTag.traded.rawValue)
            writer.writeVarint(UInt64(trade.symbolID.rawValue))
            writer.writeVarint(trade.tradeID)
            writer.writeVarint(trade.takerOrderID)
            writer.writeVarint(trade.makerOrderID)
            writer.writeVarint(trade.takerUserID)
            writer.writeVarint(trade.makerUserID)
            writer.writeByte(trade.takerSide.rawValue)
            writer.writeSignedVarint(trade.price.ticks)
            writer.writeSignedVarint(trade.quantity.lots)
            writer.writeSignedVarint(trade.takerRemaining.lots)
            writer.writeSignedVarint(trade.makerRemaining.lots)
        case .canceled(let ended):
            writer.writeByte(EventTag.canceled.rawValue)
            write(ended, into: &writer)
        case .expired(let ended, let reason):
            writer.writeByte(EventTag.expired.rawValue)
            write(ended, into: &writer)
            writer.writeByte(reason.rawValue)
        case .amended(let amended):
            writer.writeByte(EventTag.amended.rawValue)
            writer.writeVarint(amended.orderID)
            writer.writeVarint(amended.userID)
            writer.writeVarint(UInt64(amended.symbolID.rawValue))
            writer.writeByte(amended.side.rawValue)
            writer.writeSignedVarint(amended.price.ticks)
            writer.writeSignedVarint(amended.newQuantity.lots)
            writer.writeSignedVarint(amended.remaining.lots)
            writer.writeSignedVarint(amended.released.lots)
        case .levelChanged(let level):
            writer.writeByte(EventTag.levelChanged.rawValue)
            writer.writeVarint(UInt64(level.symbolID.rawValue))
            writer.writeByte(level.side.rawValue)
            writer.writeSignedVarint(level.price.ticks)
            writer.writeSignedVarint(level.totalQuantity.lots)
        case .symbolAdded(let symbolID):
            writer.writeByte(EventTag.symbolAdded.rawValue)
            writer.writeVarint(UInt64(symbolID.rawValue))
        case .symbolStatusChanged(let symbolID, let status):
            writer.writeByte(EventTag.symbolStatusChanged.rawValue)
            writer.writeVarint(UInt64(symbolID.rawValue))
            writer.writeByte(status.rawValue)
        case .symbolFiltersChanged(let symbolID):
            writer.writeByte(EventTag.symbolFiltersChanged.rawValue)
            writer.writeVarint(UInt64(symbolID.rawValue))
        }
    }

    public static func encode(_ event: MatchingEvent) -> [UInt8] {
        var writer = BinaryWriter()
        encode(event, into: &writer)
        return writer.bytes
    }

    // Specialized for the callers' byte types: other modules cannot specialize it, and the
    // generic form looks up type metadata on every call.
    @_specialize(exported: true, where Bytes == [UInt8])
    @_specialize(exported: true, where Bytes == ArraySlice<UInt8>)
    public static func decodeEvent<Bytes: RandomAccessCollection<UInt8>>(
        _ bytes: Bytes
    ) throws(BinaryDecodingError) -> MatchingEvent where Bytes.Index == Int {
        var reader = BinaryReader(bytes)
        try readVersion(&reader)
        let rawTag = try reader.readByte()
        guard let tag = EventTag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
        let event: MatchingEvent
        switch tag {
        case .accepted:
            event = .accepted(OrderAccepted(order: try readPlace(&reader)))
        case .acceptedWithBudget:
            event = .accepted(OrderAccepted(order: try readPlace(&reader, withBudget: true)))
        case .rejected:
            event = .rejected(CommandRejected(
                command: try reader.readEnum(CommandKind.self), orderID: try reader.readVarint(),
                userID: try reader.readVarint(), symbolID: try readSymbolID(&reader),
                reason: try reader.readEnum(RejectReason.self)))
        case .traded:
            event = .traded(TradeExecuted(
                symbolID: try readSymbolID(&reader), tradeID: try reader.readVarint(),
                takerOrderID: try reader.readVarint(), makerOrderID: try reader.readVarint(),
                takerUserID: try reader.readVarint(), makerUserID: try reader.readVarint(),
                takerSide: try reader.readEnum(OrderSide.self),
                price: Price(ticks: try reader.readSignedVarint()),
                quantity: Quantity(lots: try reader.readSignedVarint()),
                takerRemaining: Quantity(lots: try reader.readSignedVarint()),
                makerRemaining: Quantity(lots: try reader.readSignedVarint())))
        case .canceled:
            event = .canceled(try readEnded(&reader))
        case .expired:
            event = .expired(try readEnded(&reader), try reader.readEnum(ExpiryReason.self))
        case .amended:
            event = .amended(OrderAmended(
                orderID: try reader.readVarint(), userID: try reader.readVarint(),
                symbolID: try readSymbolID(&reader), side: try reader.readEnum(OrderSide.self),
                price: Price(ticks: try reader.readSignedVarint()),
                newQuantity: Quantity(lots: try reader.readSignedVarint()),
                remaining: Quantity(lots: try reader.readSignedVarint()),
                released: Quantity(lots: try reader.readSignedVarint())))
        case .levelChanged:
            event = .levelChanged(LevelChanged(
                symbolID: try readSymbolID(&reader), side: try reader.readEnum(OrderSide.self),
                price: Price(ticks: try reader.readSignedVarint()),
                totalQuantity: Quantity(lots: try reader.readSignedVarint())))
        case .symbolAdded:
            event = .symbolAdded(try readSymbolID(&reader))
        case .symbolStatusChanged:
            event = .symbolStatusChanged(try readSymbolID(&reader), try reader.readEnum(SymbolStatus.self))
        case .symbolFiltersChanged:
            event = .symbolFiltersChanged(try readSymbolID(&reader))
        }
        guard reader.isAtEnd else { throw .trailingBytes }
        return event
    }

    // MARK: Shared fields

    private static func write(_ place: PlaceOrder, into writer: inout BinaryWriter) {
        writer.writeVarint(place.orderID)
        writer.writeVarint(place.userID)
        writer.writeVarint(UInt64(place.symbolID.rawValue))
        writer.writeByte(place.side.rawValue)
        writer.writeByte(place.type.rawValue)
        writer.writeByte(place.timeInForce.rawValue)
        writer.writeSignedVarint(place.price.ticks)
        writer.writeSignedVarint(place.quantity.lots)
        writer.writeByte(place.selfTradePrevention.rawValue)
        if place.quoteBudget != 0 { writer.writeSignedVarint(place.quoteBudget) }
    }

    /// A place's fields; `withBudget` (the `…WithBudget` tags) reads the nonzero budget after them.
    private static func readPlace<Bytes>(
        _ reader: inout BinaryReader<Bytes>, withBudget: Bool = false
    ) throws(BinaryDecodingError) -> PlaceOrder {
        var place = PlaceOrder(
            orderID: try reader.readVarint(), userID: try reader.readVarint(),
            symbolID: try readSymbolID(&reader), side: try reader.readEnum(OrderSide.self),
            type: try reader.readEnum(OrderType.self), timeInForce: try reader.readEnum(TimeInForce.self),
            price: Price(ticks: try reader.readSignedVarint()),
            quantity: Quantity(lots: try reader.readSignedVarint()),
            selfTradePrevention: try reader.readEnum(SelfTradePrevention.self))
        if withBudget {
            place.quoteBudget = try reader.readSignedVarint()
            guard place.quoteBudget != 0 else { throw .invalidValue("a zero budget in a budget form") }
        }
        return place
    }

    private static func write(_ ended: OrderEnded, into writer: inout BinaryWriter) {
        writer.writeVarint(ended.orderID)
        writer.writeVarint(ended.userID)
        writer.writeVarint(UInt64(ended.symbolID.rawValue))
        writer.writeByte(ended.side.rawValue)
        writer.writeSignedVarint(ended.price.ticks)
        writer.writeSignedVarint(ended.remaining.lots)
    }

    private static func readEnded<Bytes>(_ reader: inout BinaryReader<Bytes>) throws(BinaryDecodingError) -> OrderEnded {
        OrderEnded(
            orderID: try reader.readVarint(), userID: try reader.readVarint(),
            symbolID: try readSymbolID(&reader), side: try reader.readEnum(OrderSide.self),
            price: Price(ticks: try reader.readSignedVarint()),
            remaining: Quantity(lots: try reader.readSignedVarint()))
    }

    private static func write(_ decimal: DecimalNumber, into writer: inout BinaryWriter) {
        writer.writeSignedVarint(decimal.units)
        writer.writeByte(UInt8(decimal.scale))
    }

    private static func readDecimal<Bytes>(_ reader: inout BinaryReader<Bytes>) throws(BinaryDecodingError) -> DecimalNumber {
        let units = try reader.readSignedVarint()
        let scale = Int(try reader.readByte())
        guard scale <= DecimalNumber.maximumScale else { throw .invalidValue("decimal scale \(scale)") }
        return DecimalNumber(units: units, scale: scale)
    }

    private static func readSymbolID<Bytes>(_ reader: inout BinaryReader<Bytes>) throws(BinaryDecodingError) -> SymbolID {
        let raw = try reader.readVarint()
        guard let value = UInt32(exactly: raw) else { throw .invalidValue("symbol id \(raw)") }
        return SymbolID(value)
    }

    private static func readVersion<Bytes>(_ reader: inout BinaryReader<Bytes>) throws(BinaryDecodingError) {
        let version = try reader.readByte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
    }
}
