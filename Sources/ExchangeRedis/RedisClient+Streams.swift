import ExchangeCore

/// A Redis stream entry id: `milliseconds-sequence`, ordered.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Before every entry (`0-0`).
    public static let zero = StreamID(milliseconds: 0, sequence: 0)

    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}

/// One stream entry: its id and its field-value pairs in order.
public struct StreamEntry: Sendable, Equatable {
    public var id: StreamID
    public var fields: [(name: String, value: [UInt8])]

    public init(id: StreamID, fields: [(name: String, value: [UInt8])]) {
        self.id = id
        self.fields = fields
    }

    /// The value of the first field called `name`.
    public func value(_ name: String) -> [UInt8]? { fields.first { $0.name == name }?.value }

    public static func == (lhs: StreamEntry, rhs: StreamEntry) -> Bool {
        lhs.id == rhs.id && lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension RedisClient {
    /// `XADD key id field value ...`; returns the entry's id. `id` nil lets Redis choose.
    public func xadd(_ key: String, id: StreamID? = nil, fields: [(String, [UInt8])]) async throws -> StreamID {
        var command: [[UInt8]] = [Array("XADD".utf8), Array(key.utf8), Array((id?.description ?? "*").utf8)]
        for (name, value) in fields {
            command.append(Array(name.utf8))
            command.append(value)
        }
        let reply = try await pipeline(bytes: [command])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        guard let text = reply.string, let added = StreamID(text) else { throw RedisError.unexpectedReply("XADD \(reply)") }
        return added
    }

    /// Redis's clock (`TIME`), in microseconds since the Unix epoch.
    public func serverMicroseconds() async throws -> UInt64 {
        let time = try await send(["TIME"]).array?.compactMap { $0.string.flatMap { UInt64($0) } } ?? []
        guard time.count == 2 else { throw RedisError.unexpectedReply("TIME") }
        return time[0] * 1_000_000 + time[1]
    }

    /// `XRANGE key (after +  COUNT count`: entries strictly after `after`, oldest first.
    public func xrange(_ key: String, after: StreamID, count: Int) async throws -> [StreamEntry] {
        let reply = try await pipeline(bytes: [Self.xrangeCommand(key, after: after, count: count)])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return try Self.entries(reply)
    }

    /// The `XRANGE` command of `xrange(_:after:count:)`, for a pipeline of one's own.
    static func xrangeCommand(_ key: String, after: StreamID, count: Int) -> [[UInt8]] {
        ["XRANGE", key, "(\(after)", "+", "COUNT", String(count)].map { Array($0.utf8) }
    }

    /// `XREVRANGE key (before -  COUNT count`: entries strictly before `before` (nil: from the
    /// newest), newest first.
    public func xrevrange(_ key: String, before: StreamID?, count: Int) async throws -> [StreamEntry] {
        let reply = try await send(["XREVRANGE", key, before.map { "(\($0)" } ?? "+", "-", "COUNT", String(count)])
        return try Self.entries(reply)
    }

    /// `XREAD [BLOCK ms] COUNT n STREAMS key... id...`: entries after each given id. With a
    /// block time it waits up to that long for the first entry (use a dedicated client).
    public func xread(_ streams: [(key: String, after: StreamID)], count: Int, block: Duration? = nil) async throws -> [String: [StreamEntry]] {
        var command = ["XREAD", "COUNT", String(count)]
        if let block { command += ["BLOCK", String(Self.milliseconds(block))] }
        command.append("STREAMS")
        command += streams.map(\.key)
        command += streams.map { $0.after.description }
        let reply = try await send(command)
        if case .null = reply { return [:] }
        guard let streamReplies = reply.array else { throw RedisError.unexpectedReply("XREAD \(reply)") }
        var result: [String: [StreamEntry]] = [:]
        for streamReply in streamReplies {
            guard let pair = streamReply.array, pair.count == 2, let key = pair[0].string else {
                throw RedisError.unexpectedReply("XREAD stream \(streamReply)")
            }
            result[key] = try Self.entries(pair[1])
        }
        return result
    }

    /// A `BLOCK` time in milliseconds: at least 1, since `BLOCK 0` would wait forever.
    static func milliseconds(_ block: Duration) -> Int64 {
        max(1, block.wholeMilliseconds)
    }

    /// `XTRIM key MINID minimum`: drops entries below `minimum`; returns how many.
    /// (`awaitingReplicas`: see `pipeline(bytes:awaitingReplicas:)`.)
    public func xtrim(_ key: String, minimumID: StreamID, awaitingReplicas: Bool = true) async throws -> Int64 {
        let reply = try await send(["XTRIM", key, "MINID", minimumID.description], awaitingReplicas: awaitingReplicas)
        guard let count = reply.integer else { throw RedisError.unexpectedReply("XTRIM \(reply)") }
        return count
    }

    static func entries(_ reply: RedisReply) throws -> [StreamEntry] {
        guard let items = reply.array else { throw RedisError.unexpectedReply("stream entries \(reply)") }
        return try items.map { item in
            guard let pair = item.array, pair.count == 2, let idText = pair[0].string, let id = StreamID(idText),
                  let flat = pair[1].array, flat.count % 2 == 0 else {
                throw RedisError.unexpectedReply("stream entry \(item)")
            }
            var fields: [(name: String, value: [UInt8])] = []
            for index in stride(from: 0, to: flat.count, by: 2) {
                guard let name = flat[index].string, case .bulk(let value) = flat[index + 1] else {
                    throw RedisError.unexpectedReply("stream field \(flat[index])")
                }
                fields.append((name, value))
            }
            return StreamEntry(id: id, fields: fields)
        }
    }
}
