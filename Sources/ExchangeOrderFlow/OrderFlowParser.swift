import ExchangeCore

/// Parses order-flow text (`order-flow.md`) into an `OrderFlow`.
///
/// Malformed input is a `FlowSyntaxError` naming the line: an unknown op, a wrong field
/// count, an unparsable number or id, an invalid symbol line, a symbol declared twice, a
/// command on a symbol declared only further down. A price or quantity that is a plain
/// decimal but has more than 18 decimals or does not fit 64 bits is well-formed: it cannot
/// be a whole number of any representable tick or step, so the order is rejected (and such
/// an amend ignored), as the format says. Well-formed but invalid orders are not
/// errors: they become rejections, as the format says. Lines the format says to ignore
/// entirely (a `place` reusing an id, a `cancel`/`amend` on an undeclared symbol, an amend
/// to a quantity that is not a multiple of the step) produce no entry.
public enum OrderFlowParser {
    public static func parse(_ text: String) throws(FlowSyntaxError) -> OrderFlow {
        var lines: [(number: Int, fields: [Substring])] = []
        var declarations: [Substring: Int] = [:]
        var lineNumber = 0
        // Split on the `\n` byte: as Characters, "\r\n" is one grapheme that never equals "\n".
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.first == "#" { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            if fields[0] == "symbol" {
                guard fields.count == 4 else {
                    throw FlowSyntaxError(line: lineNumber, reason: "symbol takes 3 fields (NAME,TICK,STEP), got \(fields.count - 1)")
                }
                if let first = declarations[fields[1]] {
                    throw FlowSyntaxError(line: lineNumber, reason: "symbol \(fields[1]) declared twice (first on line \(first))")
                }
                declarations[fields[1]] = lineNumber
            }
            lines.append((lineNumber, fields))
        }

        var flow = OrderFlow()
        var symbolIDs: [Substring: SymbolID] = [:]
        var usedOrderIDs = Set<OrderID>()
        flow.entries.reserveCapacity(lines.count)
        for (number, fields) in lines {
            let line = LineParser(number: number, fields: fields, symbolIDs: symbolIDs, declarations: declarations)
            switch fields[0] {
            case "symbol":
                let spec = try line.symbolSpec()
                symbolIDs[fields[1]] = SymbolID(UInt32(flow.symbols.count))
                flow.symbols.append(spec)
                flow.entries.append(.command(.addSymbol(AddSymbol(spec: spec))))
            case "place":
                try line.expectFieldCount(8...9, usage: "ID,USER,SYMBOL,SIDE,TYPE,TIF,PRICE,QTY[,STP]")
                let orderID = try line.unsigned(at: 1, what: "order id")
                _ = try line.unsigned(at: 2, what: "user id")
                let entry = try line.place(orderID: orderID, symbolID: try line.symbol(at: 3), specs: flow.symbols)
                guard usedOrderIDs.insert(orderID).inserted else { continue }
                flow.entries.append(entry)
            case "cancel":
                try line.expectFieldCount(3...3, usage: "ID,USER,SYMBOL")
                let orderID = try line.unsigned(at: 1, what: "order id")
                let userID = try line.unsigned(at: 2, what: "user id")
                guard let symbolID = try line.symbol(at: 3) else { continue }
                flow.entries.append(.command(.cancel(CancelOrder(orderID: orderID, userID: userID, symbolID: symbolID))))
            case "amend":
                try line.expectFieldCount(4...4, usage: "ID,USER,SYMBOL,NEWQTY")
                let orderID = try line.unsigned(at: 1, what: "order id")
                let userID = try line.unsigned(at: 2, what: "user id")
                let symbolID = try line.symbol(at: 3)
                let newQuantity = try line.representableNumber(at: 4, what: "quantity")
                guard let symbolID, let newQuantity,
                      let lots = newQuantity.multiples(of: flow.symbols[Int(symbolID.rawValue)].stepSize),
                      lots > 0 else { continue }
                flow.entries.append(.command(.amend(AmendOrder(
                    orderID: orderID, userID: userID, symbolID: symbolID, newQuantity: Quantity(lots: lots)))))
            default:
                throw FlowSyntaxError(line: number, reason: "unknown op '\(fields[0])'")
            }
        }
        return flow
    }
}

/// The fields of one line and the helpers that read them, each throwing with the line number.
private struct LineParser {
    let number: Int
    let fields: [Substring]
    let symbolIDs: [Substring: SymbolID]
    let declarations: [Substring: Int]

    func fail(_ reason: String) -> FlowSyntaxError { FlowSyntaxError(line: number, reason: reason) }

    func expectFieldCount(_ range: ClosedRange<Int>, usage: String) throws(FlowSyntaxError) {
        guard range.contains(fields.count - 1) else {
            throw fail("\(fields[0]) takes \(usage), got \(fields.count - 1) fields")
        }
    }

    func unsigned(at position: Int, what: String) throws(FlowSyntaxError) -> UInt64 {
        let field = fields[position]
        guard !field.isEmpty, field.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let value = UInt64(field) else {
            throw fail("\(what) '\(field)' is not an unsigned 64-bit integer")
        }
        return value
    }

    /// A plain decimal, possibly negative (negatives are well-formed, and rejected later).
    func number(at position: Int, what: String) throws(FlowSyntaxError) -> DecimalNumber {
        let field = fields[position]
        let isNegative = field.first == "-"
        do {
            let magnitude = try DecimalNumber(parsing: isNegative ? field.dropFirst() : field)
            return isNegative ? DecimalNumber(units: -magnitude.units, scale: magnitude.scale) : magnitude
        } catch {
            throw fail("\(what) '\(field)': \(error)")
        }
    }

    /// A well-formed decimal as `number(at:what:)` reads it, or `nil` when it is well-formed
    /// but not representable (more than 18 decimals, or beyond 64 bits).
    func representableNumber(at position: Int, what: String) throws(FlowSyntaxError) -> DecimalNumber? {
        do {
            return try number(at: position, what: what)
        } catch {
            let field = fields[position]
            let magnitude = field.first == "-" ? field.dropFirst() : field
            do {
                _ = try DecimalNumber(parsing: magnitude)
            } catch .tooManyDecimals, .outOfRange {
                return nil
            } catch {}
            throw error
        }
    }

    /// The id of a declared symbol, `nil` for a name never declared; a name declared only
    /// further down is an error.
    func symbol(at position: Int) throws(FlowSyntaxError) -> SymbolID? {
        let name = fields[position]
        if let id = symbolIDs[name] { return id }
        if let declaredOn = declarations[name] {
            throw fail("\(fields[0]) on symbol \(name) before its symbol line (line \(declaredOn))")
        }
        return nil
    }

    func symbolSpec() throws(FlowSyntaxError) -> SymbolSpec {
        let name = String(fields[1])
        let tick = try number(at: 2, what: "tick size")
        let step = try number(at: 3, what: "step size")
        do {
            return try SymbolSpec(name: name, tickSize: tick, stepSize: step)
        } catch {
            throw fail(error.description)
        }
    }

    func place(orderID: OrderID, symbolID: SymbolID?, specs: [SymbolSpec]) throws(FlowSyntaxError) -> FlowEntry {
        let userID = try unsigned(at: 2, what: "user id")
        let priceField = fields[7]
        let price = priceField.isEmpty ? nil : try representableNumber(at: 7, what: "price")
        let quantity = try representableNumber(at: 8, what: "quantity")
        func rejected(_ reason: RejectReason) -> FlowEntry { .rejectedPlace(orderID: orderID, reason: reason) }
        guard let symbolID else { return rejected(.unknownSymbol) }
        guard let side = Self.side[fields[4]] else { return rejected(.invalidSide) }
        guard let type = Self.type[fields[5]] else { return rejected(.invalidOrderType) }
        guard let timeInForce = Self.timeInForce[fields[6]] else { return rejected(.invalidTimeInForce) }
        let stpField = fields.count > 9 ? fields[9] : ""
        guard let selfTradePrevention = stpField.isEmpty ? SelfTradePrevention.none : Self.selfTradePrevention[stpField] else {
            return rejected(.invalidSelfTradePrevention)
        }
        let spec = specs[Int(symbolID.rawValue)]
        var ticks: Int64 = 0
        switch type {
        case .market:
            if !priceField.isEmpty { return rejected(.marketOrderWithPrice) }
            if timeInForce != .immediateOrCancel { return rejected(.marketOrderNotImmediateOrCancel) }
        case .limit:
            guard let price, let multiple = price.multiples(of: spec.tickSize), multiple > 0 else {
                return rejected(.invalidPrice)
            }
            ticks = multiple
        }
        guard let quantity, let lots = quantity.multiples(of: spec.stepSize), lots > 0 else { return rejected(.invalidQuantity) }
        return .command(.place(PlaceOrder(
            orderID: orderID, userID: userID, symbolID: symbolID, side: side, type: type,
            timeInForce: timeInForce, price: Price(ticks: ticks), quantity: Quantity(lots: lots),
            selfTradePrevention: selfTradePrevention)))
    }

    static let side: [Substring: OrderSide] = ["buy": .buy, "sell": .sell]
    static let type: [Substring: OrderType] = ["limit": .limit, "market": .market]
    static let timeInForce: [Substring: TimeInForce] = [
        "gtc": .goodTillCanceled, "ioc": .immediateOrCancel, "fok": .fillOrKill, "post_only": .postOnly,
    ]
    static let selfTradePrevention: [Substring: SelfTradePrevention] = [
        "none": .none, "expire_taker": .expireTaker, "expire_maker": .expireMaker, "expire_both": .expireBoth,
    ]
}
