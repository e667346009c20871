import ExchangeCore

/// Renders an `OrderFlow` back to order-flow text (`order-flow.md`).
///
/// Engine commands only: a `.rejectedPlace` entry no longer knows its original fields, and
/// the format has no line for `setSymbolStatus`; flows meant to be written are made of
/// symbols, places, cancels and amends (as generated flows are).
public enum OrderFlowWriter {
    public static func text(of flow: OrderFlow) -> String {
        var text = ""
        text.reserveCapacity(flow.entries.count * 48)
        for entry in flow.entries {
            guard case .command(let command) = entry, let line = line(for: command, symbols: flow.symbols) else { continue }
            text += line
            text += "\n"
        }
        return text
    }

    /// The flow line of `command`, or `nil` for a command the format cannot express.
    public static func line(for command: MatchingCommand, symbols: [SymbolSpec]) -> String? {
        switch command {
        case .setSymbolStatus, .setSymbolFilters:
            return nil
        case .addSymbol(let add):
            return "symbol,\(add.spec.name),\(add.spec.tickSize),\(add.spec.stepSize)"
        case .place(let order):
            let spec = symbols[Int(order.symbolID.rawValue)]
            let price = order.type == .market ? "" : spec.decimal(order.price)
            let side = order.side == .buy ? "buy" : "sell"
            let type = order.type == .limit ? "limit" : "market"
            let timeInForce = switch order.timeInForce {
            case .goodTillCanceled: "gtc"
            case .immediateOrCancel: "ioc"
            case .fillOrKill: "fok"
            case .postOnly: "post_only"
            }
            let stp = switch order.selfTradePrevention {
            case .none: ""
            case .expireTaker: ",expire_taker"
            case .expireMaker: ",expire_maker"
            case .expireBoth: ",expire_both"
            }
            return "place,\(order.orderID),\(order.userID),\(spec.name),\(side),\(type),\(timeInForce),\(price),\(spec.decimal(order.quantity))\(stp)"
        case .cancel(let cancel):
            return "cancel,\(cancel.orderID),\(cancel.userID),\(symbols[Int(cancel.symbolID.rawValue)].name)"
        case .amend(let amend):
            let spec = symbols[Int(amend.symbolID.rawValue)]
            return "amend,\(amend.orderID),\(amend.userID),\(spec.name),\(spec.decimal(amend.newQuantity))"
        }
    }
}
