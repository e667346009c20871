import ExchangeCore

/// `count` good-till-cancelled limit orders for one symbol that never cross one another: even
/// indices bid at `base` … `base + levels - 1` ticks, odd ones ask at `base + levels + 1` …
/// `base + 2 × levels`, so each level holds several orders in id order. Order i has id
/// `firstID + i`, user 1,000 + i mod 97 and 1 + i mod 9 lots; its `symbolID` is 0 (an entry's
/// first symbol, or an engine's first).
public func restingBookOrders(count: Int, levels: Int, base: Int64 = 1_000, firstID: OrderID = 1) -> [PlaceOrder] {
    (0..<count).map { index in
        let side: OrderSide = index % 2 == 0 ? .buy : .sell
        let offset = Int64(index % levels)
        return PlaceOrder(
            orderID: firstID + OrderID(index), userID: 1_000 + UserID(index % 97), symbolID: SymbolID(0), side: side, type: .limit,
            timeInForce: .goodTillCanceled, price: Price(ticks: side == .buy ? base + offset : base + Int64(levels) + 1 + offset),
            quantity: Quantity(lots: 1 + Int64(index % 9)))
    }
}
