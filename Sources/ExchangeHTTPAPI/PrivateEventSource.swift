/// Where a WebSocket endpoint gets a user's private events from (the gateway's user data
/// streams), so roles that serve sockets need not know how users authenticate.
public protocol PrivateEventSource: Sendable {
    /// Verifies an access token (JWT) and pushes the user's events to `outbox` as native
    /// frames (`{"channel":"private.events","type":…,"data":…}`); returns the user id.
    func attach(accessToken: String, to outbox: WebSocketOutbox) async throws -> UInt64

    /// Pushes the events of the user owning `listenKey` to `outbox` raw (Binance's legacy
    /// user data stream); false if no such key is live.
    func attach(listenKey: String, to outbox: WebSocketOutbox) async throws -> Bool

    /// Stops every push to `outbox`.
    func detach(_ outbox: WebSocketOutbox)
}
