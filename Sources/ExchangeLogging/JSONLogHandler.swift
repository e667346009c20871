import ExchangeCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// swift-log's records as one JSON object per line:
/// `{"time":"2026-12-05T19:50:32.123Z","level":"info","service":"openexchange","role":"matcher",
/// "shard":"0","message":"…","trace_id":"…","span_id":"…","logger":"…","metadata":{…}}`.
///
/// Invariants: every line is one complete JSON object (concurrent records never interleave);
/// secrets are masked (`SecretMask`) in the message and in every metadata value before the
/// line is formed, whoever logged them; `trace_id` and `span_id` come from the record's
/// metadata (the tracing metadata provider puts them there) and are lifted to the top level;
/// the process's fields (role, shard or partition, replica) follow `service`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let fields: ProcessLogFields
    let sink: LogSink

    public init(label: String, fields: ProcessLogFields, sink: LogSink = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.fields = fields
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        sink.write(Self.line(
            timeMilliseconds: WallClock.milliseconds(), level: event.level, message: event.message.description, label: label, fields: fields,
            metadata: merged, source: event.source))
    }

    /// The JSON line for one record (without the newline).
    static func line(
        timeMilliseconds: Int64, level: Logger.Level, message: String, label: String, fields: ProcessLogFields,
        metadata: Logger.Metadata, source: String
    ) -> String {
        var members: [(String, JSONValue)] = [("time", .string(CivilDate.iso8601(milliseconds: timeMilliseconds))), ("level", .string(level.rawValue))]
        members += fields.members
        members.append(("message", .string(SecretMask.mask(message))))
        var rest = metadata
        for key in ["trace_id", "span_id"] {
            if let value = rest.removeValue(forKey: key) { members.append((key, masked(value, key: key))) }
        }
        members += [("logger", .string(label)), ("source", .string(source))]
        if !rest.isEmpty {
            members.append(("metadata", .object(rest.sorted { $0.key < $1.key }.map { ($0.key, masked($0.value, key: $0.key)) })))
        }
        return JSONValue.object(members).text
    }

    /// A metadata value as JSON, its secrets masked (all of it when its key names a secret).
    static func masked(_ value: Logger.Metadata.Value, key: String) -> JSONValue {
        if SecretMask.isSecretKey(key) { return .string(SecretMask.replacement) }
        switch value {
        case .string(let text): return .string(SecretMask.mask(text))
        case .stringConvertible(let convertible): return .string(SecretMask.mask(convertible.description))
        case .array(let values): return .array(values.map { masked($0, key: "") })
        case .dictionary(let entries): return .object(entries.sorted { $0.key < $1.key }.map { ($0.key, masked($0.value, key: $0.key)) })
        }
    }
}

/// The fields every line of a process carries: `service`, `role`, and where it is (shard,
/// partition, replica), in that order.
public struct ProcessLogFields: Sendable {
    public var service: String
    public var role: String
    /// ("shard", "0"), ("replica", "a"), …
    public var location: [(String, String)]

    public init(service: String = "openexchange", role: String, location: [(String, String)] = []) {
        self.service = service
        self.role = role
        self.location = location
    }

    var members: [(String, JSONValue)] {
        [("service", .string(service)), ("role", .string(role))] + location.map { ($0.0, .string($0.1)) }
    }
}

/// Where log lines go: whole lines, one `write(2)` each, under a lock.
public struct LogSink: Sendable {
    let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Standard error.
    public static let standardError = LogSink { line in
        let bytes = Array((line + "\n").utf8)
        standardErrorLock.withLock { _ in
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + written, bytes.count - written) }
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { return }
                written += result
            }
        }
    }

    func write(_ line: String) { write(line) }
}

private let standardErrorLock = Mutex(())
