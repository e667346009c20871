import ExchangeCore
import ExchangeMatcher
import Logging
import PostgresNIO

/// One batch of a matching shard's output log as rows: each accepted order, its status
/// (Binance's names: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH)
/// and remaining quantity as of the batch's end, every status change as an order event
/// (refused places too, as REJECTED), and every trade. Written in the caller's
/// transaction; ids are stored by bit pattern as in `LedgerProjection`.
public struct OrderProjection: Sendable {
    struct OrderRow: Sendable {
        var orderID: Int64, userID: Int64, symbol: String, side: String, type: String, timeInForce: String
        var price: Int64, quantity: Int64, status: String, remaining: Int64, acceptedAt: Int64, updatedAt: Int64
    }

    public let shard: Int32
    /// Orders accepted in this batch, in acceptance order, with their latest state.
    var accepted: [OrderRow] = []
    var acceptedIndex: [OrderID: Int] = [:]
    /// Orders accepted before this batch: their latest state.
    var updates: [OrderID: (status: String, remaining: Int64, position: Int64)] = [:]
    var eventPositions: [Int64] = []
    var eventSeqs: [Int32] = []
    var eventOrders: [Int64] = []
    var eventStatuses: [String] = []
    var eventRemaining: [Int64] = []
    var trades: [(symbol: String, id: Int64, position: Int64, price: Int64, quantity: Int64, takerSide: String,
                  takerOrder: Int64, takerUser: Int64, makerOrder: Int64, makerUser: Int64, timeMilliseconds: Int64)] = []

    public init(shard: UInt32) { self.shard = Int32(shard) }

    public var rowCount: Int { accepted.count + updates.count + eventOrders.count + trades.count }

    /// Adds the outcomes of the input at `position`, whose output was appended at
    /// `timeMilliseconds` (the trades' time); `symbol` names a shard-local symbol id.
    public mutating func add(_ outcomes: [CommandOutcome], position: UInt64, timeMilliseconds: Int64, symbol: (SymbolID) -> String) {
        let position = Int64(bitPattern: position)
        var seq: Int32 = 0
        func change(_ orderID: OrderID, _ status: String, remaining: Int64) {
            eventPositions.append(position)
            eventSeqs.append(seq)
            eventOrders.append(Int64(bitPattern: orderID))
            eventStatuses.append(status)
            eventRemaining.append(remaining)
            seq += 1
            if let index = acceptedIndex[orderID] {
                accepted[index].status = status
                accepted[index].remaining = remaining
                accepted[index].updatedAt = position
            } else if status != "REJECTED" {
                updates[orderID] = (status, remaining, position)
            }
        }
        for case .events(let events) in outcomes {
            for event in events {
                switch event {
                case .accepted(let accepted):
                    let order = accepted.order
                    acceptedIndex[order.orderID] = self.accepted.count
                    self.accepted.append(OrderRow(
                        orderID: Int64(bitPattern: order.orderID), userID: Int64(bitPattern: order.userID), symbol: symbol(order.symbolID),
                        side: "\(order.side)", type: "\(order.type)", timeInForce: "\(order.timeInForce)", price: order.price.ticks,
                        quantity: order.quantity.lots, status: "NEW", remaining: order.quantity.lots, acceptedAt: position, updatedAt: position))
                    change(order.orderID, "NEW", remaining: order.quantity.lots)
                case .traded(let trade):
                    trades.append((
                        symbol(trade.symbolID), Int64(bitPattern: trade.tradeID), position, trade.price.ticks, trade.quantity.lots,
                        "\(trade.takerSide)", Int64(bitPattern: trade.takerOrderID), Int64(bitPattern: trade.takerUserID),
                        Int64(bitPattern: trade.makerOrderID), Int64(bitPattern: trade.makerUserID), timeMilliseconds))
                    change(trade.makerOrderID, trade.makerRemaining.lots == 0 ? "FILLED" : "PARTIALLY_FILLED", remaining: trade.makerRemaining.lots)
                    change(trade.takerOrderID, trade.takerRemaining.lots == 0 ? "FILLED" : "PARTIALLY_FILLED", remaining: trade.takerRemaining.lots)
                case .canceled(let ended):
                    change(ended.orderID, "CANCELED", remaining: ended.remaining.lots)
                case .expired(let ended, let reason):
                    let inMatch = reason == .selfTradeTaker || reason == .selfTradeMaker
                    change(ended.orderID, inMatch ? "EXPIRED_IN_MATCH" : "EXPIRED", remaining: ended.remaining.lots)
                case .amended(let amended):
                    let status = acceptedIndex[amended.orderID].map { accepted[$0].status } ?? updates[amended.orderID]?.status ?? "NEW"
                    change(amended.orderID, status, remaining: amended.remaining.lots)
                case .rejected(let rejected) where rejected.command == .place:
                    change(rejected.orderID, "REJECTED", remaining: 0)
                case .rejected, .levelChanged, .symbolAdded, .symbolStatusChanged, .symbolFiltersChanged:
                    break
                }
            }
        }
    }

    public func write(on connection: PostgresConnection, logger: Logger) async throws {
        if !accepted.isEmpty {
            try await connection.query("""
                INSERT INTO exchange_order.orders (order_id, user_id, symbol, shard, side, type, time_in_force, price_ticks,
                                                   quantity_lots, status, remaining_lots, accepted_position, updated_position)
                SELECT o, u, s, \(shard), d, t, f, p, q, st, r, a, up
                FROM unnest(\(accepted.map(\.orderID))::bigint[], \(accepted.map(\.userID))::bigint[], \(accepted.map(\.symbol))::text[],
                            \(accepted.map(\.side))::text[], \(accepted.map(\.type))::text[], \(accepted.map(\.timeInForce))::text[],
                            \(accepted.map(\.price))::bigint[], \(accepted.map(\.quantity))::bigint[], \(accepted.map(\.status))::text[],
                            \(accepted.map(\.remaining))::bigint[], \(accepted.map(\.acceptedAt))::bigint[], \(accepted.map(\.updatedAt))::bigint[])
                     AS x(o, u, s, d, t, f, p, q, st, r, a, up)
                """, logger: logger)
        }
        if !updates.isEmpty {
            let rows = updates.sorted { $0.key < $1.key }
            try await connection.query("""
                UPDATE exchange_order.orders SET status = x.s, remaining_lots = x.r, updated_position = x.p
                FROM unnest(\(rows.map { Int64(bitPattern: $0.key) })::bigint[], \(rows.map(\.value.status))::text[],
                            \(rows.map(\.value.remaining))::bigint[], \(rows.map(\.value.position))::bigint[]) AS x(o, s, r, p)
                WHERE orders.order_id = x.o
                """, logger: logger)
        }
        if !eventOrders.isEmpty {
            try await connection.query("""
                INSERT INTO exchange_order.order_events (shard, position, seq, order_id, status, remaining_lots)
                SELECT \(shard), * FROM unnest(\(eventPositions)::bigint[], \(eventSeqs)::integer[], \(eventOrders)::bigint[],
                                               \(eventStatuses)::text[], \(eventRemaining)::bigint[])
                """, logger: logger)
        }
        if !trades.isEmpty {
            try await connection.query("""
                INSERT INTO exchange_order.trades (symbol, trade_id, shard, position, price_ticks, quantity_lots, taker_side,
                                                   taker_order_id, taker_user_id, maker_order_id, maker_user_id, time_ms)
                SELECT s, i, \(shard), p, pr, q, ts, tor, tu, mo, mu, tm
                FROM unnest(\(trades.map(\.symbol))::text[], \(trades.map(\.id))::bigint[], \(trades.map(\.position))::bigint[],
                            \(trades.map(\.price))::bigint[], \(trades.map(\.quantity))::bigint[], \(trades.map(\.takerSide))::text[],
                            \(trades.map(\.takerOrder))::bigint[], \(trades.map(\.takerUser))::bigint[],
                            \(trades.map(\.makerOrder))::bigint[], \(trades.map(\.makerUser))::bigint[],
                            \(trades.map(\.timeMilliseconds))::bigint[])
                     AS x(s, i, p, pr, q, ts, tor, tu, mo, mu, tm)
                """, logger: logger)
        }
    }
}

/// Where the recorder stands in each output log, kept with the rows it wrote.
public enum StreamPositions {
    /// The last output stream id and input position recorded for `stream`, locking the row
    /// for the transaction (so two recorders never write the same batch).
    public static func lock(_ stream: String, on connection: PostgresConnection, logger: Logger) async throws -> (lastID: String, position: Int64)? {
        try await connection.query("""
            INSERT INTO exchange_admin.stream_positions (stream, last_id, position) VALUES (\(stream), '0-0', 0)
            ON CONFLICT (stream) DO NOTHING
            """, logger: logger)
        for try await (lastID, position) in try await connection.query(
            "SELECT last_id, position FROM exchange_admin.stream_positions WHERE stream = \(stream) FOR UPDATE", logger: logger
        ).decode((String, Int64).self) {
            return (lastID, position)
        }
        return nil
    }

    public static func store(_ stream: String, lastID: String, position: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE exchange_admin.stream_positions SET last_id = \(lastID), position = \(position) WHERE stream = \(stream)", logger: logger)
    }

    /// Every stream's recorded position.
    public static func all(_ client: PostgresClient, logger: Logger) async throws -> [String: (lastID: String, position: Int64)] {
        try await positions(client.query(allQuery, logger: logger))
    }

    /// `all` inside a transaction.
    public static func all(on connection: PostgresConnection, logger: Logger) async throws -> [String: (lastID: String, position: Int64)] {
        try await positions(connection.query(allQuery, logger: logger))
    }

    private static let allQuery: PostgresQuery = "SELECT stream, last_id, position FROM exchange_admin.stream_positions"

    private static func positions(_ rows: PostgresRowSequence) async throws -> [String: (lastID: String, position: Int64)] {
        var positions: [String: (String, Int64)] = [:]
        for try await (stream, lastID, position) in rows.decode((String, String, Int64).self) { positions[stream] = (lastID, position) }
        return positions
    }
}
