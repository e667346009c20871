import Logging
import PostgresNIO

/// Where PostgreSQL is: parsed from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
public struct PostgresSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(url: String) throws(PostgresSettingsError) {
        guard let components = URLComponents(text: url), components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty, let username = components.user, !username.isEmpty,
              components.path.count > 1 else {
            throw .invalid(url)
        }
        self.host = host
        port = components.port ?? 5432
        self.username = username
        password = components.password
        database = String(components.path.dropFirst())
    }

    /// A pooled client (it does nothing until its `run()` is running); the pool logs its
    /// errors through `logger`.
    public func client(maximumConnections: Int = 4, logger: Logger = Logger(label: "exchange.postgres")) -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
        configuration.options.maximumConnections = maximumConnections
        // The pool warns when a lease comes before `run()` has started, which is a race
        // at every start, not a problem: its own errors reach callers as thrown errors.
        var logger = logger
        logger.logLevel = .error
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }
}

public enum PostgresSettingsError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let url): "invalid PostgreSQL URL '\(url)': expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        }
    }
}

/// The parts of a URL this needs, parsed without Foundation's URL (whose parsing differs
/// between platforms).
struct URLComponents {
    var scheme: String
    var user: String?
    var password: String?
    var host: String?
    var port: Int?
    var path: String

    init?(text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        scheme = String(text[..<schemeEnd.lowerBound])
        var rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        path = String(rest[authorityEnd...])
        rest = authority
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                user = String(credentials)
            }
        }
        if let colon = authority.lastIndex(of: ":") {
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
            self.port = port
            host = String(authority[..<colon])
        } else {
            host = String(authority)
        }
    }
}
