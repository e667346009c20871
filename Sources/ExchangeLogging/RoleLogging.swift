import Logging

/// How a role process logs: swift-log bootstrapped once, at the role's start, with
/// `JSONLogHandler` (or swift-log's plain text handler when EXCHANGE_LOG_FORMAT=text, for a
/// person reading a terminal), at EXCHANGE_LOG_LEVEL (default info). Libraries get the
/// returned logger (or one made from it) passed in; they never bootstrap.
public enum RoleLogging {
    /// Bootstraps logging for this process and returns the role's logger. Call once, first.
    public static func bootstrap(
        role: String, location: [(String, String)] = [], environment: [String: String], metadataProvider: Logger.MetadataProvider? = nil
    ) -> Logger {
        let fields = ProcessLogFields(role: role, location: location)
        let level = environment["EXCHANGE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let text = environment["EXCHANGE_LOG_FORMAT"] == "text"
        LoggingSystem.bootstrap({ label, provider in
            var handler: any LogHandler = text
                ? StreamLogHandler.standardError(label: label, metadataProvider: provider)
                : JSONLogHandler(label: label, fields: fields, metadataProvider: provider)
            handler.logLevel = level
            return handler
        }, metadataProvider: metadataProvider)
        return Logger(label: "exchange.\(role)")
    }
}
