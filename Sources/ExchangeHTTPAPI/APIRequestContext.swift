import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of the HTTP roles (gateway, market data): Hummingbird's, plus the
/// peer's address (rate limits, whitelists, login history, connection limits), the connection's
/// channel (to close a stalled WebSocket) and the WebSocket upgrade.
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
        webSocket = .init()
    }

    public var clientIP: String { remoteAddress?.ipAddress ?? "unknown" }
}
