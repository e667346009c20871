import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import Logging
import NIOCore
import Synchronization
import ExchangeTracing

/// Pushes users' events (`gw:ue:{user}`, written by the projection exactly once per event)
/// to this instance's user data stream subscribers, in stream order.
///
/// One reader for every subscribed user of the instance (`XREAD BLOCK` over all their
/// streams on a connection of its own). While a user has a subscriber here, the instance
/// keeps `gw:uds:{user}` alive so the projection records the user's events.
final class UserDataStreams: Sendable {
    /// A subscription: where its events go and how they are wrapped.
    struct Subscription: Sendable {
        enum Wrapping: Sendable, Equatable {
            /// The WebSocket API's `{"subscriptionId":N,"event":…}`.
            case webSocketAPI(subscriptionID: Int)
            /// The event itself (a legacy listenKey stream).
            case raw
            /// The native `/ws/v1` frame `{"channel":"private.events","type":e,"data":…}`.
            case native
        }
        var outbox: WebSocketOutbox
        var wrapping: Wrapping

        var subscriptionID: Int? {
            if case .webSocketAPI(let id) = wrapping { return id }
            return nil
        }

        func frame(_ event: JSONValue) -> JSONValue {
            switch wrapping {
            case .webSocketAPI(let id): .object([("subscriptionId", .integer(Int64(id))), ("event", event)])
            case .raw: event
            case .native:
                .object([("channel", "private.events"), ("type", Self.eventType(event)), ("data", event)])
            }
        }

        static func eventType(_ event: JSONValue) -> JSONValue {
            guard case .object(let members) = event, let type = members.first(where: { $0.0 == "e" })?.1 else { return .null }
            return type
        }
    }

    private struct Follow: Sendable {
        /// The last stream id delivered.
        var after: StreamID
        var subscriptions: [Subscription]
    }

    let client: RedisClient
    let waitClient: RedisClient
    let markets: MarketDirectory
    let logger: Logger
    private let follows = Mutex<[UserID: Follow]>([:])

    init(client: RedisClient, waitClient: RedisClient, markets: MarketDirectory, logger: Logger) {
        self.client = client
        self.waitClient = waitClient
        self.markets = markets
        self.logger = logger
    }

    /// Starts delivering `user`'s events from now on to `subscription`.
    func subscribe(_ user: UserID, _ subscription: Subscription) async throws {
        let followed = follows.withLock { follows -> Bool in
            guard follows[user] != nil else { return false }
            follows[user]!.subscriptions.append(subscription)
            return true
        }
        guard !followed else { return }
        // The stream's end first, then the marker: every event recorded after the marker is after that end.
        let end = try await client.xrevrange(GatewayKeys.userEvents(user), before: nil, count: 1).first?.id ?? .zero
        try await markWanted([user])
        follows.withLock { follows in
            if follows[user] == nil { follows[user] = Follow(after: end, subscriptions: []) }
            follows[user]!.subscriptions.append(subscription)
        }
    }

    /// Stops one WebSocket API subscription (`subscriptionID` nil: every subscription of
    /// `outbox`, of any wrapping); returns whether there was one.
    @discardableResult
    func unsubscribe(_ outbox: WebSocketOutbox, subscriptionID: Int?) -> Bool {
        follows.withLock { follows in
            var found = false
            for user in Array(follows.keys) {
                let before = follows[user]!.subscriptions.count
                follows[user]!.subscriptions.removeAll { $0.outbox === outbox && (subscriptionID == nil || $0.subscriptionID == subscriptionID) }
                found = found || follows[user]!.subscriptions.count != before
                if follows[user]!.subscriptions.isEmpty { follows[user] = nil }
            }
            return found
        }
    }

    /// The WebSocket API subscriptions of `outbox`.
    func subscriptionIDs(of outbox: WebSocketOutbox) -> [Int] {
        follows.withLock { follows in
            follows.values.flatMap { $0.subscriptions.filter { $0.outbox === outbox }.compactMap(\.subscriptionID) }.sorted()
        }
    }

    private func markWanted(_ users: [UserID]) async throws {
        guard !users.isEmpty else { return }
        let commands = users.map { ["SET", GatewayKeys.userEventsWanted($0), "1", "EX", String(GatewayKeys.userEventsWantedSeconds)] }
        for reply in try await client.pipeline(commands) {
            if case .error(let message) = reply { throw RedisError.server(message) }
        }
    }

    /// Delivers until cancelled; renews the markers every half of their life.
    func run() async {
        var renewed = ContinuousClock.now
        while !Task.isCancelled {
            do {
                let followed = follows.withLock { $0.map { (user: $0.key, after: $0.value.after) } }
                guard !followed.isEmpty else {
                    try await Task.sleep(for: .milliseconds(50))
                    continue
                }
                if renewed.duration(to: .now) > .seconds(GatewayKeys.userEventsWantedSeconds / 2) {
                    try await markWanted(followed.map(\.user))
                    renewed = .now
                }
                // Short blocks: a user subscribed meanwhile joins the next read.
                let streams = try await waitClient.xread(
                    followed.map { (GatewayKeys.userEvents($0.user), $0.after) }, count: 256, block: .milliseconds(100))
                for (user, _) in followed {
                    guard let entries = streams[GatewayKeys.userEvents(user)], let last = entries.last else { continue }
                    var payloads: [(event: JSONValue, traceParent: String?)] = []
                    for entry in entries {
                        if let event = try await payload(entry) {
                            payloads.append((event, entry.value(GatewayKeys.userEventTraceField).map { String(decoding: $0, as: UTF8.self) }))
                        }
                    }
                    let subscriptions = follows.withLock { follows -> [Subscription] in
                        guard follows[user] != nil else { return [] }
                        follows[user]!.after = last.id
                        return follows[user]!.subscriptions
                    }
                    for (event, traceParent) in payloads {
                        // A traced order's event: its push is the last span of the order's trace.
                        EntrySpans.child(
                            of: traceParent, "user_event.push",
                            attributes: [("exchange.user_id", "\(user)"), ("exchange.subscribers", "\(subscriptions.count)")]
                        ) {
                            for subscription in subscriptions { subscription.outbox.send(subscription.frame(event).text) }
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("gateway.user-data: \(String(reflecting: error))")
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// The Binance event of one stream entry; nil for one that cannot be shown (an order or
    /// symbol the gateway no longer knows).
    func payload(_ entry: StreamEntry) async throws -> JSONValue? {
        guard let text = entry.value("ev").map({ String(decoding: $0, as: UTF8.self) }),
              let event = UserEvent(text: text, entryTimeMilliseconds: Int64(entry.id.milliseconds)) else { return nil }
        let scales = try await markets.snapshot().assetScales
        var fields: [String] = []
        for (name, value) in entry.fields where name != "ev" && name != GatewayKeys.userEventTraceField {
            fields += [name, String(decoding: value, as: UTF8.self)]
        }
        switch event.kind {
        case .execution(let execution, let orderID, let trade):
            guard let order = OrderRecord(orderID: orderID, hash: fields), let listing = try await markets.listing(order.symbol),
                  let spec = try? listing.spec() else { return nil }
            return UserEvent.executionReport(
                execution, order: order, trade: trade, timeMilliseconds: event.timeMilliseconds, listing: listing, spec: spec, assetScales: scales)
        case .balanceUpdate(let asset, let units):
            return UserEvent.balanceUpdate(asset: asset, units: units, timeMilliseconds: event.timeMilliseconds, assetScales: scales)
        case .accountPosition:
            var balances: [(asset: String, available: Int64, frozen: Int64)] = []
            for index in stride(from: 0, to: fields.count - 1, by: 2) {
                let held = fields[index + 1].split(separator: ":")
                guard held.count == 2, let available = Int64(held[0]), let frozen = Int64(held[1]) else { continue }
                balances.append((fields[index], available, frozen))
            }
            return UserEvent.accountPosition(balances, timeMilliseconds: event.timeMilliseconds, assetScales: scales)
        }
    }
}
