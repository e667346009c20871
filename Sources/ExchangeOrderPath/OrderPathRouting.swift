import ExchangeClearing
import ExchangeCluster
import ExchangeCore
import ExchangeMatcher

/// The order path between clearing partitions and matching shards, as pure functions of one
/// log entry: what a clearing output sends to shards, and what a shard output sends back to
/// clearing. Primaries append the results before they emit (`OrderPathForwarder`).
public enum OrderPathRouting {
    /// The places and cancels of one clearing output entry's forwards, per shard, in event
    /// order (a cancel forwarded after its place stays after it); and the orders no shard
    /// holds (their freeze must be released: `unroutableEnds`). A cancel for a symbol no shard
    /// holds is dropped: its order never reached a shard and was ended when it was placed.
    public static func shardCommands(
        of events: [ClearingEvent], shardOf: (String) -> ShardID?
    ) -> (batches: [ShardID: ShardInputBatch], unroutable: [ClearingOrder]) {
        var batches: [ShardID: ShardInputBatch] = [:]
        var unroutable: [ClearingOrder] = []
        for event in events {
            switch event {
            case .forward(let order, let tickLotBudget):
                guard let shard = shardOf(order.symbol) else {
                    unroutable.append(order)
                    continue
                }
                let place = PlaceOrder(
                    orderID: order.orderID, userID: order.userID, symbolID: SymbolID(0), side: order.side, type: order.type,
                    timeInForce: order.timeInForce, price: order.price, quantity: order.quantity,
                    selfTradePrevention: order.selfTradePrevention, quoteBudget: tickLotBudget)
                batches[shard, default: ShardInputBatch()].append(.place(place), symbol: order.symbol)
            case .forwardCancel(let orderID, let userID, let symbol):
                guard let shard = shardOf(symbol) else { continue }
                batches[shard, default: ShardInputBatch()].append(
                    .cancel(CancelOrder(orderID: orderID, userID: userID, symbolID: SymbolID(0))), symbol: symbol)
            default:
                continue
            }
        }
        return (batches, unroutable)
    }

    /// What clearing must hear about orders no shard took: each order ended.
    public static func unroutableEnds(_ orders: [ClearingOrder], partitionOf: (UserID) -> PartitionID) -> [PartitionID: [ClearingCommand]] {
        var commands: [PartitionID: [ClearingCommand]] = [:]
        for order in orders {
            commands[partitionOf(order.userID), default: []].append(.orderEnded(orderID: order.orderID, userID: order.userID))
        }
        return commands
    }

    /// The clearing commands of one shard output entry, per partition of the users concerned,
    /// in event order: both legs of every trade, the end of every order that filled, was
    /// canceled, expired or was refused, and the lots every amend released.
    ///
    /// A place refused as a duplicate id ends nothing: the id belongs to another live order.
    public static func clearingCommands(of outcomes: [CommandOutcome], partitionOf: (UserID) -> PartitionID) -> [PartitionID: [ClearingCommand]] {
        var commands: [PartitionID: [ClearingCommand]] = [:]
        func send(_ command: ClearingCommand, to user: UserID) { commands[partitionOf(user), default: []].append(command) }
        for case .events(let events) in outcomes {
            for event in events {
                switch event {
                case .traded(let trade):
                    send(.tradeLeg(TradeLeg(
                        tradeID: trade.tradeID, orderID: trade.makerOrderID, userID: trade.makerUserID, price: trade.price,
                        quantity: trade.quantity, isMaker: true)), to: trade.makerUserID)
                    send(.tradeLeg(TradeLeg(
                        tradeID: trade.tradeID, orderID: trade.takerOrderID, userID: trade.takerUserID, price: trade.price,
                        quantity: trade.quantity, isMaker: false)), to: trade.takerUserID)
                    if trade.makerRemaining.lots == 0 { send(.orderEnded(orderID: trade.makerOrderID, userID: trade.makerUserID), to: trade.makerUserID) }
                    if trade.takerRemaining.lots == 0 { send(.orderEnded(orderID: trade.takerOrderID, userID: trade.takerUserID), to: trade.takerUserID) }
                case .canceled(let ended), .expired(let ended, _):
                    send(.orderEnded(orderID: ended.orderID, userID: ended.userID), to: ended.userID)
                case .rejected(let rejected) where rejected.command == .place && rejected.reason != .duplicateOrderID:
                    send(.orderEnded(orderID: rejected.orderID, userID: rejected.userID), to: rejected.userID)
                case .amended(let amended):
                    send(.orderAmended(orderID: amended.orderID, userID: amended.userID, releasedLots: amended.released.lots), to: amended.userID)
                case .accepted, .rejected, .levelChanged, .symbolAdded, .symbolStatusChanged, .symbolFiltersChanged:
                    break
                }
            }
        }
        return commands
    }
}
