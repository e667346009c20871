import ExchangeAccess

/// How a gateway runs. Secrets (the master key that seals API secrets, the token signing key)
/// come from the environment or files, never from the repository or the command line.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// 32 bytes: seals API key secrets (AES-256-GCM).
    public var masterKey: [UInt8]
    /// At least 32 bytes: signs access tokens (HS256).
    public var tokenKey: [UInt8]
    public var bcryptCost: UInt8 = 10
    public var accessTokenLifetimeSeconds: Int64 = 900
    public var refreshTokenLifetimeSeconds = 30 * 86_400
    public var rateLimits = RateLimitPolicy()
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    public var corsOrigins: [String] = []
    /// How long a RESULT/FULL placement or a cancel waits for its outcome.
    public var outcomeTimeout = Duration.seconds(5)
    /// How often the instance looks for worker ids nobody holds whose orders are still marked
    /// unsettled (an instance stopped between admitting them and learning their appends'
    /// outcome), to settle them (`AbandonedOrderSweeper`).
    public var abandonedOrderScanInterval = Duration.seconds(30)
    /// Largest request body accepted.
    public var maximumBodyBytes = 64 * 1_024
    /// How long a resolved API key is reused before PostgreSQL is asked again (a disabled or
    /// deleted key stops working within this).
    public var apiKeyCacheLifetime = Duration.seconds(2)
    /// Events queued to one user data stream connection before it is dropped as too slow.
    public var userStreamQueueCapacity = 4_096

    public init(masterKey: [UInt8], tokenKey: [UInt8]) {
        self.masterKey = masterKey
        self.tokenKey = tokenKey
    }
}
