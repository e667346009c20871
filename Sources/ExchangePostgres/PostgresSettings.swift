import Logging
import NIOSSL
import PostgresNIO

/// Where PostgreSQL is and how to reach it: parsed from
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE[&sslrootcert=FILE]]`, with
/// libpq's meaning of `sslmode`: `disable` (the default here), `require` (encrypted, server
/// not verified), `verify-ca` (its certificate chains to `sslrootcert`) and `verify-full`
/// (and names HOST). With any of the last three, a server without TLS is refused.
public struct PostgresSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        case disable
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode = .disable
    /// PEM file of the certificate authorities to trust (`sslrootcert`); nil: the system's.
    public var rootCertificatePath: String?

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
        for (name, value) in components.query {
            switch name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else { throw .invalidParameter(name, value) }
                tlsMode = mode
            case "sslrootcert":
                rootCertificatePath = value
            default:
                throw .invalidParameter(name, value)
            }
        }
    }

    /// PostgresNIO's TLS setting for `tlsMode`.
    var tls: PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let rootCertificatePath { configuration.trustRoots = .file(rootCertificatePath) }
        switch tlsMode {
        case .disable: return .disable
        case .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        return .require(configuration)
    }

    /// A pooled client (it does nothing until its `run()` is running); the pool logs its
    /// errors through `logger`.
    public func client(maximumConnections: Int = 4, logger: Logger = Logger(label: "exchange.postgres")) -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
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
    case invalidParameter(String, String)

    public var description: String {
        switch self {
        case .invalid(let url): "invalid PostgreSQL URL '\(url)': expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]"
        case .invalidParameter(let name, let value):
            "PostgreSQL URL parameter \(name)=\(value) is not supported: sslmode=disable|require|verify-ca|verify-full, sslrootcert=FILE"
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
    /// `?name=value&...` after the path, in order (values not percent-decoded).
    var query: [(String, String)] = []

    init?(text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        scheme = String(text[..<schemeEnd.lowerBound])
        var rest = text[schemeEnd.upperBound...]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { return nil }
                query.append((String(parts[0]), String(parts[1])))
            }
            rest = rest[..<question]
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        path = String(rest[authorityEnd...])
        rest = authority
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            // Percent-decoded, as libpq reads them: a password with `?`, `/` or `@` is written `%3F`, `%2F`, `%40`.
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon]).removingPercentEncoding
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                user = String(credentials).removingPercentEncoding
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
