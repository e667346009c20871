import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeMatcher
import ExchangeOrderFlow
import ExchangeRedis
import ExchangeReplication

/// Reads a whole shard's input and output logs (tools only: O(log size) memory).
struct ReplicaLogs {
    var inputs: [TaggedInputEntry] = []
    var outputs: [(position: LogPosition, epoch: Epoch, appendedAtMicroseconds: UInt64, payload: [UInt8])] = []

    init(store: ReplicaLogStore) async throws {
        inputs = try await store.allTaggedInput()
        var outputAfter = StreamID.zero
        while true {
            let page = try await store.readOutputs(after: outputAfter, count: 5_000)
            guard let last = page.last else { break }
            outputs += page.map { ($0.position, $0.epoch, $0.appendedAtMicroseconds, $0.payload) }
            outputAfter = last.id
        }
    }
}

/// `exchange collect`: turns the shards' output logs back into the order-flow output format,
/// so a cluster run compares with `exchange replay` of the same flow.
///
/// Every shard's events are merged in flow order (the flow lines `exchange feed` noted), symbol ids
/// are mapped from shard-local to the registry's, and the final books are rebuilt from the
/// events alone (accepted orders that may rest, minus trades, amends, cancels and expiries, in
/// acceptance order within a price) — nothing is recomputed by a local engine.
public struct ClusterCollector: Sendable {
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    public func collect() async throws -> String {
        guard let map = try await ClusterMapStore(client: client).load() else { throw ClusterMapStoreError.notInitialized }
        // Global symbol numbering: by name, so the output does not depend on shard layout (nor
        // on moves: every placement a symbol had maps to its one global id).
        let placements = try await SymbolRegistry(client: client).names()
        let names = Set(placements.values).sorted()
        let indexOfName = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, SymbolID(UInt32($0.offset))) })
        let global = placements.mapValues { indexOfName[$0]! }
        var specs: [SymbolSpec?] = Array(repeating: nil, count: names.count)
        var tagged: [(index: Int, events: [MatchingEvent])] = []
        for shard in map.shards.map(\.id) {
            let logs = try await ReplicaLogs(store: ReplicaLogStore(keys: .matchingShard(shard), client: client))
            if let first = logs.inputs.first?.entry.position, first != 1 {
                throw CollectError.trimmedLog(shard: shard, firstPosition: first)
            }
            var localSymbols: UInt32 = 0
            var lines: [LogPosition: [Int]] = [:]
            for input in logs.inputs {
                let decoded = try? ShardInput.decode(input.entry.payload)
                // A take-over takes the next local id too (a refused one as a tombstone).
                if case .takeOver? = decoded { localSymbols += 1 }
                guard case .commands(_, let commands)? = decoded else { continue }
                for case .addSymbol(let add) in commands {
                    if let id = global[SymbolPlacement(shard: shard, localID: SymbolID(localSymbols))] {
                        specs[Int(id.rawValue)] = add.spec
                    }
                    localSymbols += 1
                }
                if let note = input.note { lines[input.entry.position] = try FlowLineNote.decode(note) }
            }
            for output in logs.outputs {
                guard let entryLines = lines[output.position] else { continue }
                let outcomes = try ShardOutput.decode(output.payload)
                guard outcomes.count == entryLines.count else { throw CollectError.outcomeCount(shard: shard, position: output.position) }
                for (line, outcome) in zip(entryLines, outcomes) {
                    guard case .events(let events) = outcome else { throw CollectError.misrouted(shard: shard, position: output.position, outcome) }
                    tagged.append((line, events.map { event in
                        Self.globalizing(event) { global[SymbolPlacement(shard: shard, localID: $0)] ?? $0 }
                    }))
                }
            }
        }
        tagged.sort { $0.index < $1.index }
        var edgeRejected: [FlowEntry] = []
        if let fields = try await client.send(["HGETALL", FlowFeeder.edgeRejectedKey]).array {
            for index in stride(from: 0, to: fields.count - 1, by: 2) {
                guard let id = fields[index].string.flatMap({ OrderID($0) }),
                      let reason = fields[index + 1].string.flatMap({ UInt8($0) }).flatMap({ RejectReason(rawValue: $0) }) else { continue }
                edgeRejected.append(.rejectedPlace(orderID: id, reason: reason))
            }
        }
        let flow = OrderFlow(symbols: specs.map { $0! }, entries: edgeRejected)
        var collector = FlowOutputCollector(flow: flow)
        var book = BookReconstruction()
        for (index, events) in tagged {
            collector.record(events)
            book.record(events, sequence: index)
        }
        return collector.render { symbol, side in book.restingOrders(of: symbol, side: side) }
    }

    /// `event` with its symbol ids mapped by `map` (only the fields the output reads).
    static func globalizing(_ event: MatchingEvent, _ map: (SymbolID) -> SymbolID) -> MatchingEvent {
        switch event {
        case .accepted(var accepted):
            accepted.order.symbolID = map(accepted.order.symbolID)
            return .accepted(accepted)
        case .traded(var trade):
            trade.symbolID = map(trade.symbolID)
            return .traded(trade)
        default:
            return event
        }
    }
}

/// Rebuilds final books from matching events only.
struct BookReconstruction {
    struct Order {
        var symbol: SymbolID
        var side: OrderSide
        var price: Price
        var remaining: Int64
        var mayRest: Bool
        var ended = false
        var sequence: Int
    }

    private var orders: [OrderID: Order] = [:]

    mutating func record(_ events: [MatchingEvent], sequence: Int) {
        for event in events {
            switch event {
            case .accepted(let accepted):
                let order = accepted.order
                orders[order.orderID] = Order(
                    symbol: order.symbolID, side: order.side, price: order.price, remaining: order.quantity.lots,
                    mayRest: order.timeInForce == .goodTillCanceled || order.timeInForce == .postOnly, sequence: sequence)
            case .traded(let trade):
                orders[trade.takerOrderID]?.remaining = trade.takerRemaining.lots
                orders[trade.makerOrderID]?.remaining = trade.makerRemaining.lots
            case .canceled(let ended), .expired(let ended, _):
                orders[ended.orderID]?.ended = true
            case .amended(let amended):
                orders[amended.orderID]?.remaining = amended.remaining.lots
            default:
                break
            }
        }
    }

    func restingOrders(of symbol: SymbolID, side: OrderSide) -> [(OrderID, Price, Quantity)] {
        orders.filter { $0.value.symbol == symbol && $0.value.side == side && $0.value.mayRest && !$0.value.ended && $0.value.remaining > 0 }
            .sorted { left, right in
                if left.value.price != right.value.price {
                    return side == .buy ? left.value.price > right.value.price : left.value.price < right.value.price
                }
                return left.value.sequence < right.value.sequence
            }
            .map { ($0.key, $0.value.price, Quantity(lots: $0.value.remaining)) }
    }
}

public enum CollectError: Error, CustomStringConvertible {
    case trimmedLog(shard: ShardID, firstPosition: LogPosition)
    case outcomeCount(shard: ShardID, position: LogPosition)
    case misrouted(shard: ShardID, position: LogPosition, CommandOutcome)

    public var description: String {
        switch self {
        case .trimmedLog(let shard, let first):
            "shard \(shard)'s input log was trimmed (it starts at \(first)): collect needs the whole log (run matchers without --trim-log)"
        case .outcomeCount(let shard, let position):
            "shard \(shard)'s output for input \(position) does not have one outcome per command fed"
        case .misrouted(let shard, let position, let outcome):
            "shard \(shard) refused a command of input \(position) as misrouted: \(outcome)"
        }
    }
}
