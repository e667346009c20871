import ExchangeCore
import ExchangeReplication

/// The Redis keys of one replicated state machine (a matching shard `me:{3}` or a clearing
/// partition `clr:{0}`). The braces are a hash tag: all keys of one log share a cluster slot,
/// so the scripts below may touch them together.
public struct ReplicaLogKeys: Sendable, Hashable {
    public let prefix: String

    /// Keys of matching shard `shard`.
    public static func matchingShard(_ shard: UInt32) -> ReplicaLogKeys { ReplicaLogKeys(prefix: "me:{\(shard)}") }
    /// Keys of clearing partition `partition`.
    public static func clearingPartition(_ partition: UInt32) -> ReplicaLogKeys { ReplicaLogKeys(prefix: "clr:{\(partition)}") }

    public init(prefix: String) { self.prefix = prefix }

    /// The input log: entry ids `POSITION-1`, fields `d` (payload) and `t` (Redis time, µs);
    /// optional `g` (tag), `n` (note) and `c` (`EntryTraces`).
    public var input: String { "\(prefix):in" }
    /// The output log: one entry per input position, fields `p` (input position), `e`
    /// (epoch of the appender), `t` (Redis time of the append, µs) and `d` (payload);
    /// optional `c` (`EntryTraces`).
    public var output: String { "\(prefix):out" }
    /// `POSITION:EPOCH`: the input position of the output log's last entry and the epoch that
    /// appended it, written with every fenced append (the output watermark). Reading the last
    /// entry instead copies its payload into Lua at about 1.5 ns a byte: 1.9 ms for a 1.2 MB
    /// book handed over, paid by every append and every lease observation until the next
    /// entry. Trusted only at the current epoch (see `outputWatermarkFunction`).
    public var outputWatermark: String { "\(prefix):out-p" }
    /// The lease: a hash `holder`, `epoch`, with a TTL.
    public var lease: String { "\(prefix):lease" }
    /// The current epoch (fencing token), bumped by every acquisition.
    public var epoch: String { "\(prefix):epoch" }
    /// The last input position handed out.
    public var sequence: String { "\(prefix):seq" }
    /// What each consumer of the output log (the recorder, the gateways' projection) reports it
    /// has durably taken: a hash consumer name → the stream id of the last output entry taken.
    /// The primary never trims the logs below it (`LogTrimPlan`).
    public var consumers: String { "\(prefix):consumers" }
    /// The highest tag `producer` appended (see `ReplicaLogStore.appendInput(_:tags:producer:)`).
    public func lastTag(producer: String) -> String { "\(prefix):last-tag:\(producer)" }
    /// `producer`'s last tag as the first fence of `tag` found it (`ReplicaLogStore.fenceTag`).
    public func fencedTag(producer: String, tag: UInt64) -> String { "\(prefix):fence:\(producer):\(tag)" }
}

/// An input entry as tools read it: with the producer's tag and note, if any.
public struct TaggedInputEntry: Sendable, Equatable {
    public var entry: InputEntry
    public var tag: String?
    public var note: [UInt8]?
}

/// What an acquisition attempt found.
public enum LeaseAcquisition: Sendable, Equatable {
    /// The lease is ours at `epoch`; `watermark` is the last input position with outputs.
    case acquired(epoch: Epoch, watermark: LogPosition)
    /// Someone holds it (or took a newer epoch first).
    case held(holder: String, epoch: Epoch, remaining: Duration)
}

/// The lease, epoch and output watermark as observed together.
public struct ReplicaLogObservation: Sendable, Equatable {
    /// Nil when no lease is held (none, or expired).
    public var holder: String?
    public var epoch: Epoch
    public var leaseRemaining: Duration
    public var watermark: LogPosition
}

/// The replicated logs of one state machine in Redis: dense positions on the input log,
/// leases with epochs, and fenced appends on the output log. Every operation is one Lua
/// script, so each is atomic on the server.
public struct ReplicaLogStore: Sendable {
    public let keys: ReplicaLogKeys
    public let client: RedisClient

    public init(keys: ReplicaLogKeys, client: RedisClient) {
        self.keys = keys
        self.client = client
    }

    /// Lua: the input position of the last output entry of the stream `key`, 0 if none, from
    /// `markKey` (`ReplicaLogKeys.outputWatermark`) when it was set at `epoch` (the current
    /// one), else read off the last entry. So a mark is never trusted across a change of
    /// primary: one that keeps no mark (a build from before it, in a rolling upgrade) may have
    /// appended since. A new primary reads the last entry once (acquisition bumps the epoch),
    /// and its first append sets the mark again.
    static let outputWatermarkFunction = """
        local function outputWatermark(key, markKey, epoch)
          if redis.call('XLEN', key) == 0 then return 0 end
          local mark = redis.call('GET', markKey)
          if mark then
            local position, markEpoch = string.match(mark, '^(%d+):(%d+)$')
            if markEpoch == tostring(epoch) then return tonumber(position) end
          end
          local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
          local fields = last[1][2]
          for i = 1, #fields, 2 do if fields[i] == 'p' then return tonumber(fields[i + 1]) end end
          return 0
        end

        """

    /// KEYS: input, sequence, the producer's last tag, then any guard keys (`AppendGuard`).
    /// ARGV: the values the guard keys must hold, in order; then (payload, tag, note, traces)
    /// quadruples; empty tag, note or traces means none. A guard key not holding its value
    /// (an absent key holds the empty value) refuses the whole call with `NOTHOLDER`, having
    /// written nothing.
    static let appendInputScript = RedisScript(source: """
        local from = #KEYS - 2
        for i = 1, from - 1 do
          if (redis.call('GET', KEYS[3 + i]) or '') ~= ARGV[i] then return redis.error_reply('NOTHOLDER guard not held') end
        end
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        local first = 0
        local lastTag = tonumber(redis.call('GET', KEYS[3]) or '-1')
        local lastTagText = nil
        for i = from, #ARGV, 4 do
          local tag = ARGV[i + 1]
          if tag == '' or tonumber(tag) > lastTag then
            local position = redis.call('INCR', KEYS[2])
            if first == 0 then first = position end
            local fields = {'d', ARGV[i], 't', micros}
            if tag ~= '' then
              fields[#fields + 1] = 'g'
              fields[#fields + 1] = tag
              lastTag = tonumber(tag)
              lastTagText = tag
            end
            if ARGV[i + 2] ~= '' then
              fields[#fields + 1] = 'n'
              fields[#fields + 1] = ARGV[i + 2]
            end
            if ARGV[i + 3] ~= '' then
              fields[#fields + 1] = 'c'
              fields[#fields + 1] = ARGV[i + 3]
            end
            redis.call('XADD', KEYS[1], position .. '-1', unpack(fields))
          end
        end
        if lastTagText then redis.call('SET', KEYS[3], lastTagText) end
        return first
        """)

    static let acquireScript = RedisScript(source: outputWatermarkFunction + """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          local lease = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
          return {0, lease[1], tonumber(lease[2]), redis.call('PTTL', KEYS[1])}
        end
        -- The lease is free: grant the next epoch, whatever the bidder last saw (a bidder
        -- whose view lags still gets a fresh, higher token; fencing is by epoch).
        local epoch = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
        redis.call('SET', KEYS[2], epoch)
        redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'epoch', epoch)
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        local watermark = outputWatermark(KEYS[3], KEYS[4], epoch)
        return {1, epoch, watermark}
        """)

    /// Not awaiting replicas: a renewal a Redis failover loses only lets the lease lapse early,
    /// and the standby that then takes it fences this holder by epoch. Awaited, a replica
    /// slow to acknowledge (its fsync behind an AOF rewrite on a shared disk) failed renewals
    /// the master had carried out, and a healthy primary stepped down.
    static let renewScript = RedisScript(effect: .unreplicatedWrites, source: """
        local lease = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
        if lease[1] == ARGV[1] and lease[2] == ARGV[2] then
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
          return {1}
        end
        return {0, lease[1] or '', tonumber(redis.call('GET', KEYS[2]) or '0')}
        """)

    static let observeScript = RedisScript(effect: .readOnly, source: outputWatermarkFunction + """
        local lease = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
        local epoch = redis.call('GET', KEYS[2]) or '0'
        local watermark = outputWatermark(KEYS[3], KEYS[4], epoch)
        return {lease[1] or '', tonumber(epoch), redis.call('PTTL', KEYS[1]), watermark}
        """)

    /// ARGV: epoch, then (position, payload, traces) triples. Refused with `FENCED <epoch>` unless the
    /// epoch is current, and with `GAP <watermark>` unless the first position follows the
    /// output watermark: outputs are appended exactly once, in order.
    static let fencedAppendScript = RedisScript(source: outputWatermarkFunction + """
        local current = redis.call('GET', KEYS[1]) or '0'
        if current ~= ARGV[1] then
          return redis.error_reply('FENCED ' .. current)
        end
        local watermark = outputWatermark(KEYS[2], KEYS[3], current)
        if tonumber(ARGV[2]) ~= watermark + 1 then
          return redis.error_reply('GAP ' .. watermark)
        end
        for i = 5, #ARGV, 3 do
          if tonumber(ARGV[i]) ~= tonumber(ARGV[i - 3]) + 1 then
            return redis.error_reply('GAP ' .. watermark)
          end
        end
        local t = redis.call('TIME')
        local micros = tostring(t[1]) .. string.format('%06d', tonumber(t[2]))
        for i = 2, #ARGV, 3 do
          if ARGV[i + 2] == '' then
            redis.call('XADD', KEYS[2], '*', 'p', ARGV[i], 'e', ARGV[1], 't', micros, 'd', ARGV[i + 1])
          else
            redis.call('XADD', KEYS[2], '*', 'p', ARGV[i], 'e', ARGV[1], 't', micros, 'd', ARGV[i + 1], 'c', ARGV[i + 2])
          end
        end
        redis.call('SET', KEYS[3], ARGV[#ARGV - 2] .. ':' .. ARGV[1])
        return tonumber(ARGV[#ARGV - 2])
        """)

    /// Appends payloads to the input log in order; returns the position of the first appended
    /// (0 if all were already there).
    ///
    /// `tags` (one per payload, if given) are increasing integers stored beside each entry as
    /// field `g` for tools (`exchange feed` records each command's place in its flow); state
    /// machines never see them. A tagged payload whose tag is not above the last tag the same
    /// `producer` appended is skipped, so a producer may retry a batch whose outcome it does
    /// not know; other producers' tags do not interfere.
    ///
    /// `notes` (one per payload, if given; empty for none) are opaque bytes stored as field
    /// `n` for tools, e.g. which flow commands an entry carries.
    ///
    /// `traces` (one per payload, if given) are the entries' traced orders, field `c`.
    public func appendInput(
        _ payloads: [[UInt8]], tags: [String]? = nil, notes: [[UInt8]]? = nil, traces: [EntryTraces]? = nil, producer: String = "default"
    ) async throws -> LogPosition {
        try await Self.appendInputs(
            [InputBatch(keys: keys, payloads: payloads, tags: tags, notes: notes, traces: traces)], producer: producer, on: client)[0]
    }

    /// Payloads for one input log, as `appendInput(_:tags:notes:producer:)` takes them.
    public struct InputBatch: Sendable {
        public var keys: ReplicaLogKeys
        public var payloads: [[UInt8]]
        public var tags: [String]?
        public var notes: [[UInt8]]?
        public var traces: [EntryTraces]?

        public init(keys: ReplicaLogKeys, payloads: [[UInt8]], tags: [String]? = nil, notes: [[UInt8]]? = nil, traces: [EntryTraces]? = nil) {
            self.keys = keys
            self.payloads = payloads
            self.tags = tags
            self.notes = notes
            self.traces = traces
        }
    }

    /// Conditions an append requires: each key must hold its value when the append runs (an
    /// absent key holds the empty value), or nothing of it is appended
    /// (`GuardedAppendError.notHolder`). For a lease, the value is the producer's token (never
    /// empty): a producer whose lease was taken over is so cut off at once, not at its next
    /// renewal. The keys need not share the log's hash slot: the logs run on a single master
    /// (Sentinel), not a Redis Cluster.
    public struct AppendGuard: Sendable {
        /// Each key and the value it must hold.
        public var conditions: [(key: String, value: String)]

        public init(key: String, value: String) { conditions = [(key, value)] }

        public init(_ conditions: [(key: String, value: String)]) { self.conditions = conditions }
    }

    /// `appendInput(_:tags:notes:producer:)` on several logs at once, in one round trip:
    /// `batches` are appended in order, each to its own log. Returns the first position
    /// appended per batch (0 if all were already there).
    public static func appendInputs(_ batches: [InputBatch], producer: String, on client: RedisClient) async throws -> [LogPosition] {
        try await appendInputReplies(batches, producer: producer, guard: nil, on: client).map { reply in
            if case .error(let message) = reply { throw RedisError.server(message) }
            return try firstAppended(reply)
        }
    }

    /// `appendInputs(_:producer:on:)`, each batch only while `guard` holds, checked per batch
    /// (the lease may lapse between two): per batch, its first position appended (0 if all
    /// were already there), or `notHolder` (nothing of that batch appended). Any other
    /// refusal throws.
    public static func appendInputs(
        _ batches: [InputBatch], producer: String, guard appendGuard: AppendGuard, on client: RedisClient
    ) async throws -> [Result<LogPosition, GuardedAppendError>] {
        try await appendInputReplies(batches, producer: producer, guard: appendGuard, on: client).map { reply in
            if case .error(let message) = reply {
                if message.hasPrefix("NOTHOLDER") { return .failure(.notHolder) }
                throw RedisError.server(message)
            }
            return .success(try firstAppended(reply))
        }
    }

    private static func appendInputReplies(
        _ batches: [InputBatch], producer: String, guard appendGuard: AppendGuard?, on client: RedisClient
    ) async throws -> [RedisReply] {
        let calls = batches.map { batch in
            let store = ReplicaLogStore(keys: batch.keys, client: client)
            let arguments = appendInputArguments(batch.payloads, tags: batch.tags, notes: batch.notes, traces: batch.traces)
            guard let appendGuard else { return (store.appendInputKeys(producer: producer), arguments) }
            return (store.appendInputKeys(producer: producer) + appendGuard.conditions.map(\.key), appendGuard.conditions.map { Array($0.value.utf8) } + arguments)
        }
        return try await appendInputScript.run(on: client, calls: calls)
    }

    private func appendInputKeys(producer: String) -> [String] { [keys.input, keys.sequence, keys.lastTag(producer: producer)] }

    private static func appendInputArguments(_ payloads: [[UInt8]], tags: [String]?, notes: [[UInt8]]?, traces: [EntryTraces]?) -> [[UInt8]] {
        precondition(!payloads.isEmpty, "nothing to append")
        precondition(tags == nil || tags!.count == payloads.count, "one tag per payload")
        precondition(notes == nil || notes!.count == payloads.count, "one note per payload")
        precondition(traces == nil || traces!.count == payloads.count, "one trace list per payload")
        precondition(tags?.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (48...57).contains($0) } } ?? true, "tags are decimal integers")
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(payloads.count * 4)
        for (index, payload) in payloads.enumerated() {
            arguments.append(payload)
            arguments.append(Array((tags?[index] ?? "").utf8))
            arguments.append(notes?[index] ?? [])
            arguments.append(traces?[index].encoded() ?? [])
        }
        return arguments
    }

    private static func firstAppended(_ reply: RedisReply) throws -> LogPosition {
        guard let first = reply.integer, first >= 0 else { throw RedisError.unexpectedReply("append input \(reply)") }
        return LogPosition(first)
    }

    /// Which of `wanted` (tag and payload, as `appendInput(_:tags:...)` stored them) the input
    /// log holds: the tags found, and whether that answer is `complete`. Reads newest first, in
    /// pages growing from 64 to 1,024 entries, until all are found, or an entry for which
    /// `precedes` holds comes (it proves every wanted entry, if there, is newer: complete), or
    /// one appended before `notBeforeMicroseconds` (Redis's clock, Unix epoch: a bound on the
    /// search's cost, not a proof: incomplete), or the log begins: complete only if it begins
    /// at position 1, since a log trimmed after those entries were appended may have held the
    /// others.
    ///
    /// A producer's tags increase along the log (a tag not above its last is skipped), so its
    /// own entry with a tag below every wanted one is such a proof, whatever the clocks say.
    /// A producer whose retried append was skipped as not above its last tag uses this to tell
    /// "my earlier attempt got in" from "another holder of my name appended a higher tag".
    public func landedInputs(
        _ wanted: [(tag: String, payload: [UInt8])], notBeforeMicroseconds: UInt64, precedes: (TaggedInputEntry) -> Bool = { _ in false }
    ) async throws -> (found: Set<String>, complete: Bool) {
        var missing = Dictionary(wanted.map { ($0.tag, $0.payload) }, uniquingKeysWith: { first, _ in first })
        var found = Set<String>()
        var before: StreamID?
        var pageSize = 64
        while !missing.isEmpty {
            let page = try await client.xrevrange(keys.input, before: before, count: pageSize)
            for entry in page {
                let tagged = try Self.taggedInput(entry)
                if let tag = tagged.tag, let payload = missing[tag], payload == tagged.entry.payload {
                    missing[tag] = nil
                    found.insert(tag)
                    if missing.isEmpty { return (found, true) }
                } else if precedes(tagged) {
                    return (found, true)
                } else if tagged.entry.timestampMicroseconds < notBeforeMicroseconds {
                    return (found, false)
                }
            }
            guard page.count == pageSize, let last = page.last else {
                // The log begins here: complete only if nothing was trimmed from its start.
                let oldest = page.last?.id ?? before
                return (found, missing.isEmpty || oldest?.milliseconds == 1)
            }
            before = last.id
            pageSize = min(pageSize * 4, 1_024)
        }
        return (found, true)
    }

    /// Raises `producer`'s last tag in this log to at least `tag` (never lowers it), so no
    /// append tagged `tag` or below lands from now on: an attempt still on its way is skipped.
    /// After it, whether an entry tagged `tag` is in the log is settled for good.
    ///
    /// Returns the producer's last tag as the first fence of `tag` found it (kept for a week,
    /// so a repeated fence answers the same; nil: it had appended no tag). Below `tag`, the
    /// entry tagged `tag` never landed: the last tag only grows, and an append raises it to
    /// its own.
    public func fenceTag(_ tag: UInt64, producer: String) async throws -> UInt64? {
        try await Self.fenceTags([(keys, tag)], producer: producer, on: client)[0]
    }

    /// `fenceTag(_:producer:)` of several tags (in their logs) in one round trip, in order.
    public static func fenceTags(_ fences: [(keys: ReplicaLogKeys, tag: UInt64)], producer: String, on client: RedisClient) async throws -> [UInt64?] {
        guard !fences.isEmpty else { return [] }
        let calls = fences.map { fence in
            ([fence.keys.lastTag(producer: producer), fence.keys.fencedTag(producer: producer, tag: fence.tag)],
             [Array(String(fence.tag).utf8), Array(String(7 * 86_400).utf8)])
        }
        return try await fenceTagScript.run(on: client, calls: calls).map { reply in
            if case .error(let message) = reply { throw RedisError.server(message) }
            guard let text = reply.string else { throw RedisError.unexpectedReply("fence \(reply)") }
            return UInt64(text)
        }
    }

    static let fenceTagScript = RedisScript(source: """
        local last = redis.call('GET', KEYS[1]) or '-1'
        local before = redis.call('GET', KEYS[2])
        if not before then
          before = last
          redis.call('SET', KEYS[2], last, 'EX', ARGV[2])
        end
        if tonumber(last) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
        return before
        """)

    /// Input entries after `after`, oldest first, at most `count`.
    public func readInput(after: LogPosition, count: Int) async throws -> [InputEntry] {
        try await readTaggedInput(after: after, count: count).map(\.entry)
    }

    /// Input entries with their tags and notes (see `appendInput(_:tags:notes:producer:)`).
    public func readTaggedInput(after: LogPosition, count: Int) async throws -> [TaggedInputEntry] {
        try await client.xrange(keys.input, after: StreamID(milliseconds: after, sequence: 1), count: count).map(Self.taggedInput)
    }

    /// Input entries after `after`, at most `count`, read with `XREAD BLOCK` on `waitClient`
    /// (a connection of its own): returns at once when there are some, else waits up to
    /// `block` for the first to be appended (empty if none came).
    public func awaitInput(after: LogPosition, count: Int, block: Duration, on waitClient: RedisClient) async throws -> [InputEntry] {
        let streams = try await waitClient.xread([(keys.input, StreamID(milliseconds: after, sequence: 1))], count: count, block: block)
        return try (streams[keys.input] ?? []).map { try Self.taggedInput($0).entry }
    }

    static func taggedInput(_ entry: StreamEntry) throws -> TaggedInputEntry {
        guard let payload = entry.value("d"), let time = entry.value("t"), let micros = UInt64(String(decoding: time, as: UTF8.self)) else {
            throw RedisError.unexpectedReply("input entry \(entry.id)")
        }
        return TaggedInputEntry(
            entry: InputEntry(
                position: entry.id.milliseconds, timestampMicroseconds: micros, payload: payload,
                traces: entry.value("c").map(EntryTraces.init(decoding:)) ?? .none),
            tag: entry.value("g").map { String(decoding: $0, as: UTF8.self) }, note: entry.value("n"))
    }

    /// Tries to take the lease for `holder` for `duration`. When it is free the store grants the
    /// next epoch (at least `epoch`, the bidder's last seen + 1); when it is held, says by whom.
    public func acquireLease(holder: String, epoch: Epoch, duration: Duration) async throws -> LeaseAcquisition {
        let reply = try await Self.acquireScript.run(
            on: client, keys: [keys.lease, keys.epoch, keys.output, keys.outputWatermark],
            arguments: [holder, String(duration.wholeMilliseconds), String(epoch)])
        guard let fields = reply.array, let granted = fields.first?.integer else { throw RedisError.unexpectedReply("acquire \(reply)") }
        if granted == 1, fields.count == 3, let epoch = fields[1].integer, let watermark = fields[2].integer {
            return .acquired(epoch: Epoch(epoch), watermark: LogPosition(watermark))
        }
        guard fields.count == 4, let currentEpoch = fields[2].integer, let remaining = fields[3].integer else {
            throw RedisError.unexpectedReply("acquire \(reply)")
        }
        return .held(holder: fields[1].string ?? "", epoch: Epoch(currentEpoch), remaining: .milliseconds(max(0, remaining)))
    }

    /// Extends the lease if `holder` still holds it at `epoch`; otherwise returns the
    /// current holder and epoch.
    public func renewLease(holder: String, epoch: Epoch, duration: Duration) async throws -> (renewed: Bool, holder: String, epoch: Epoch) {
        let reply = try await Self.renewScript.run(
            on: client, keys: [keys.lease, keys.epoch], arguments: [holder, String(epoch), String(duration.wholeMilliseconds)])
        guard let fields = reply.array, let renewed = fields.first?.integer else { throw RedisError.unexpectedReply("renew \(reply)") }
        if renewed == 1 { return (true, holder, epoch) }
        guard fields.count == 3, let current = fields[2].integer else { throw RedisError.unexpectedReply("renew \(reply)") }
        return (false, fields[1].string ?? "", Epoch(current))
    }

    /// The lease, epoch and output watermark, read atomically.
    public func observe() async throws -> ReplicaLogObservation {
        let reply = try await Self.observeScript.run(
            on: client, keys: [keys.lease, keys.epoch, keys.output, keys.outputWatermark], arguments: [])
        guard let fields = reply.array, fields.count == 4, let epoch = fields[1].integer, let remaining = fields[2].integer,
              let watermark = fields[3].integer else {
            throw RedisError.unexpectedReply("observe \(reply)")
        }
        let holder = fields[0].string ?? ""
        return ReplicaLogObservation(
            holder: holder.isEmpty || remaining <= 0 ? nil : holder, epoch: Epoch(epoch),
            leaseRemaining: .milliseconds(max(0, remaining)), watermark: LogPosition(watermark))
    }

    /// Appends one output entry per input position, fenced by `epoch`. Throws
    /// `FencedAppendError.fenced` when a newer epoch exists.
    public func appendOutputs(_ outputs: [EmittedOutput], epoch: Epoch) async throws {
        _ = try await appendOutputs(outputs, epoch: epoch, readingInputAfter: nil)
    }

    /// `appendOutputs(_:epoch:)` and, in the same round trip, up to `count` input entries after
    /// `after` if given: a busy primary gets its next batch with the append of the last one.
    /// The read happens whatever the append's fate; the caller drops it when the append throws.
    public func appendOutputs(
        _ outputs: [EmittedOutput], epoch: Epoch, readingInputAfter after: LogPosition?, count: Int = 0
    ) async throws -> [InputEntry] {
        precondition(!outputs.isEmpty, "nothing to append")
        var arguments = [Array(String(epoch).utf8)]
        for output in outputs {
            arguments.append(Array(String(output.position).utf8))
            arguments.append(output.payload)
            arguments.append(output.traces.encoded())
        }
        let read = after.map { [RedisClient.xrangeCommand(keys.input, after: StreamID(milliseconds: $0, sequence: 1), count: count)] } ?? []
        let (replies, followers) = try await Self.fencedAppendScript.run(
            on: client, calls: [([keys.epoch, keys.output, keys.outputWatermark], arguments)], followedBy: read)
        if case .error(let message) = replies[0] {
            if message.hasPrefix("FENCED ") { throw FencedAppendError.fenced(currentEpoch: Epoch(message.dropFirst("FENCED ".count)) ?? 0) }
            if message.hasPrefix("GAP ") { throw FencedAppendError.gap(watermark: LogPosition(message.dropFirst("GAP ".count)) ?? 0) }
            throw RedisError.server(message)
        }
        guard let readReply = followers.first else { return [] }
        if case .error(let message) = readReply { throw RedisError.server(message) }
        return try RedisClient.entries(readReply).map { try Self.taggedInput($0).entry }
    }
}

/// Why an output append was refused.
public enum FencedAppendError: Error, Equatable, Sendable {
    /// A newer epoch exists: the appender is deposed.
    case fenced(currentEpoch: Epoch)
    /// The first position does not follow the output watermark.
    case gap(watermark: LogPosition)
}

/// Why a guarded input append was refused.
public enum GuardedAppendError: Error, Equatable, Sendable {
    /// The append's guard (`ReplicaLogStore.AppendGuard`) did not hold its value (a lease the
    /// producer's token): nothing of the batch was appended.
    case notHolder
}

/// An output log entry as readers see it.
public struct OutputEntry: Sendable, Equatable {
    /// Its Redis stream id, and the input position it answers.
    public var id: StreamID
    public var position: LogPosition
    /// The epoch of the primary that appended it.
    public var epoch: Epoch
    /// Redis's time when it was appended, µs since the Unix epoch: when it became visible.
    public var appendedAtMicroseconds: UInt64
    public var payload: [UInt8]
    /// The traced orders of its input, each under the span of the primary's apply.
    public var traces: EntryTraces

    public init(id: StreamID, position: LogPosition, epoch: Epoch, appendedAtMicroseconds: UInt64, payload: [UInt8], traces: EntryTraces = .none) {
        self.id = id
        self.position = position
        self.epoch = epoch
        self.appendedAtMicroseconds = appendedAtMicroseconds
        self.payload = payload
        self.traces = traces
    }

    /// Parses a raw output stream entry (fields `p`, `e`, `t`, `d`, optional `c`).
    public init(_ entry: StreamEntry) throws {
        guard let position = entry.value("p").flatMap({ LogPosition(String(decoding: $0, as: UTF8.self)) }),
              let epoch = entry.value("e").flatMap({ Epoch(String(decoding: $0, as: UTF8.self)) }),
              let appendedAt = entry.value("t").flatMap({ UInt64(String(decoding: $0, as: UTF8.self)) }),
              let payload = entry.value("d") else {
            throw RedisError.unexpectedReply("output entry \(entry.id)")
        }
        self.init(
            id: entry.id, position: position, epoch: epoch, appendedAtMicroseconds: appendedAt, payload: payload,
            traces: entry.value("c").map(EntryTraces.init(decoding:)) ?? .none)
    }
}

extension ReplicaLogStore {
    /// Output entries after the Redis id `after`, oldest first.
    /// The input position the output entry `id` answers; nil when there is no such entry.
    public func outputPosition(at id: StreamID) async throws -> LogPosition? {
        let reply = try await client.send(["XRANGE", keys.output, id.description, id.description])
        if case .error(let message) = reply { throw RedisError.server(message) }
        return try RedisClient.entries(reply).first.map { try OutputEntry($0).position }
    }

    public func readOutputs(after: StreamID, count: Int) async throws -> [OutputEntry] {
        try await client.xrange(keys.output, after: after, count: count).map(OutputEntry.init)
    }

    /// Output entries of several logs, each after its own stream id, with `XREAD BLOCK` on
    /// `waitClient` (a connection of its own): returns at once when any log has some, else
    /// waits up to `block` for the first (empty if none came). At most `count` per log.
    public static func awaitOutputs(
        _ logs: [(keys: ReplicaLogKeys, after: StreamID)], count: Int, block: Duration, on waitClient: RedisClient
    ) async throws -> [ReplicaLogKeys: [OutputEntry]] {
        let keysByName = Dictionary(logs.map { ($0.keys.output, $0.keys) }, uniquingKeysWith: { first, _ in first })
        let streams = try await waitClient.xread(logs.map { ($0.keys.output, $0.after) }, count: count, block: block)
        var outputs: [ReplicaLogKeys: [OutputEntry]] = [:]
        for (name, entries) in streams {
            guard let keys = keysByName[name] else { continue }
            outputs[keys] = try entries.map(OutputEntry.init)
        }
        return outputs
    }

    /// Waits on `waitClient` (a connection of its own) until an output entry is appended after
    /// this call reaches Redis (`XREAD BLOCK ... $`), or `block` passes; says which.
    public func awaitNextOutput(block: Duration, on waitClient: RedisClient) async throws -> Bool {
        let reply = try await waitClient.send(["XREAD", "COUNT", "1", "BLOCK", String(RedisClient.milliseconds(block)), "STREAMS", keys.output, "$"])
        if case .null = reply { return false }
        return true
    }
}

/// What a replica reports about itself for `exchange ctl status` and metrics; kept in Redis
/// with a short TTL, so a dead replica disappears from the status by itself.
public struct ReplicaStatus: Sendable, Equatable {
    public var name: String
    public var role: String
    public var epoch: Epoch
    public var appliedPosition: LogPosition
    public var lastSnapshotPosition: LogPosition
    /// Milliseconds since the Unix epoch, from the replica's wall clock (display only).
    public var updatedAtMilliseconds: UInt64
    /// The state digest at `digestPosition` (replicas compute it when idle); compare only
    /// digests taken at the same position.
    public var digest: UInt64?
    public var digestPosition: LogPosition?

    public init(
        name: String, role: String, epoch: Epoch, appliedPosition: LogPosition, lastSnapshotPosition: LogPosition,
        updatedAtMilliseconds: UInt64, digest: UInt64? = nil, digestPosition: LogPosition? = nil
    ) {
        self.digest = digest
        self.digestPosition = digestPosition
        self.name = name
        self.role = role
        self.epoch = epoch
        self.appliedPosition = appliedPosition
        self.lastSnapshotPosition = lastSnapshotPosition
        self.updatedAtMilliseconds = updatedAtMilliseconds
    }
}

extension ReplicaLogKeys {
    /// The set of replica names that ever reported.
    public var replicaNames: String { "\(prefix):replicas" }
    /// One replica's status hash (expires unless refreshed).
    public func replicaStatus(_ name: String) -> String { "\(prefix):replica:\(name)" }
}

extension ReplicaLogStore {
    /// Publishes `status`, valid for `ttl`. Not awaiting Redis's replicas: a report a failover
    /// loses is replaced by the next, and the replica's loop must not wait on stalled replicas.
    public func publish(_ status: ReplicaStatus, ttl: Duration) async throws {
        let key = keys.replicaStatus(status.name)
        let milliseconds = ttl.wholeMilliseconds
        _ = try await client.pipeline([
            ["SADD", keys.replicaNames, status.name],
            ["HSET", key, "role", status.role, "epoch", String(status.epoch), "applied", String(status.appliedPosition),
             "snapshot", String(status.lastSnapshotPosition), "updated", String(status.updatedAtMilliseconds),
             "digest", status.digest.map(String.init) ?? "", "digest-at", status.digestPosition.map(String.init) ?? ""],
            ["PEXPIRE", key, String(milliseconds)],
        ], awaitingReplicas: false)
    }

    /// The statuses of live replicas (those whose status has not expired), by name.
    public func replicaStatuses() async throws -> [ReplicaStatus] {
        guard let names = try await client.send(["SMEMBERS", keys.replicaNames]).array?.compactMap(\.string) else { return [] }
        var statuses: [ReplicaStatus] = []
        for name in names.sorted() {
            guard let fields = try await client.send(["HGETALL", keys.replicaStatus(name)]).array, !fields.isEmpty else { continue }
            var values: [String: String] = [:]
            for index in stride(from: 0, to: fields.count - 1, by: 2) {
                if let key = fields[index].string, let value = fields[index + 1].string { values[key] = value }
            }
            statuses.append(ReplicaStatus(
                name: name, role: values["role"] ?? "?", epoch: Epoch(values["epoch"] ?? "") ?? 0,
                appliedPosition: LogPosition(values["applied"] ?? "") ?? 0,
                lastSnapshotPosition: LogPosition(values["snapshot"] ?? "") ?? 0,
                updatedAtMilliseconds: UInt64(values["updated"] ?? "") ?? 0,
                digest: values["digest"].flatMap { UInt64($0) }, digestPosition: values["digest-at"].flatMap { LogPosition($0) }))
        }
        return statuses
    }

    /// The last input position handed out (the log's length).
    public func inputLength() async throws -> LogPosition {
        let reply = try await client.send(["GET", keys.sequence])
        return reply.string.flatMap { LogPosition($0) } ?? 0
    }
}

extension ReplicaLogStore {
    /// The Redis id of the first output appended at `epoch` (its milliseconds are Redis's
    /// clock when the new primary first emitted), or nil if that epoch appended nothing.
    /// Scans backwards from the newest entry until an older epoch.
    public func firstOutputID(ofEpoch epoch: Epoch) async throws -> StreamID? {
        var before: StreamID?
        var earliest: StreamID?
        while true {
            let page = try await client.xrevrange(keys.output, before: before, count: 1_000)
            guard !page.isEmpty else { return earliest }
            for entry in page {
                guard let value = entry.value("e"), let entryEpoch = Epoch(String(decoding: value, as: UTF8.self)) else {
                    throw RedisError.unexpectedReply("output entry \(entry.id)")
                }
                if entryEpoch < epoch { return earliest }
                if entryEpoch == epoch { earliest = entry.id }
            }
            before = page.last!.id
        }
    }
}

extension ReplicaLogKeys {
    /// The position of the snapshot the primary publishes for new replicas: a hash `position`.
    public var publishedSnapshot: String { "\(prefix):snapshot" }
    /// The published snapshot file's bytes: a list of chunks, in order.
    public var publishedSnapshotChunks: String { "\(prefix):snapshot:chunks" }
    /// Where one publisher stages a snapshot's chunks before they replace the published ones.
    func snapshotStaging(_ token: String) -> String { "\(prefix):snapshot:staging:\(token)" }
}

extension ReplicaLogStore {
    /// Bytes per chunk of a published snapshot.
    public static let snapshotChunkBytes = 256 << 10

    /// KEYS: position hash, chunk list, staging list; ARGV: position. Swaps the staged chunks in
    /// unless a snapshot as new is published (then drops them). Small arguments only: Redis's
    /// Lua hashes every byte of every string it is given.
    static let publishSnapshotScript = RedisScript(effect: .unreplicatedWrites, source: """
        local current = tonumber(redis.call('HGET', KEYS[1], 'position') or '-1')
        if tonumber(ARGV[1]) <= current then
          redis.call('DEL', KEYS[3])
          return 0
        end
        if redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('STAGING expired') end
        redis.call('RENAME', KEYS[3], KEYS[2])
        redis.call('PERSIST', KEYS[2])
        redis.call('HSET', KEYS[1], 'position', ARGV[1])
        redis.call('HDEL', KEYS[1], 'data')
        return 1
        """)

    /// Publishes a snapshot file's bytes taken at `position`, unless one as new is published.
    ///
    /// The bytes go to a staging list of its own in `snapshotChunkBytes` chunks, one request
    /// each, then a script swaps them in. A snapshot is tens of MB: in one command (or through
    /// Lua, which hashes every argument byte) Redis stalled every shard for tens of ms, and
    /// an owned connection's thread (the replica's loop) was held for the whole transfer;
    /// chunk by chunk, both serve others in between. A publisher that dies midway leaves a
    /// staging list that expires.
    ///
    /// Nothing of it waits for Redis's replicas: a snapshot a failover loses leaves the older
    /// one published (and the trim that follows it, on the same connection, reaches a replica
    /// only after it), and the primary's loop must not wait on stalled replicas.
    public func publishSnapshot(at position: LogPosition, bytes: [UInt8]) async throws {
        precondition(!bytes.isEmpty, "a snapshot file is never empty")
        let staging = keys.snapshotStaging("\(position)-\(UInt64.random(in: 0...UInt64.max))")
        for start in stride(from: 0, to: bytes.count, by: Self.snapshotChunkBytes) {
            let chunk = Array(bytes[start..<min(start + Self.snapshotChunkBytes, bytes.count)])
            var commands = [[Array("RPUSH".utf8), Array(staging.utf8), chunk]]
            if start == 0 { commands.append(["PEXPIRE", staging, "600000"].map { Array($0.utf8) }) }
            for reply in try await client.pipeline(bytes: commands, awaitingReplicas: false) {
                if case .error(let message) = reply { throw RedisError.server(message) }
            }
        }
        _ = try await Self.publishSnapshotScript.run(
            on: client, keys: [keys.publishedSnapshot, keys.publishedSnapshotChunks, staging], arguments: [String(position)])
    }

    /// The published snapshot, if any: its position and the snapshot file's bytes (read in one
    /// transaction, so never a position with another snapshot's chunks).
    public func publishedSnapshot() async throws -> (position: LogPosition, bytes: [UInt8])? {
        let replies = try await client.pipeline([
            ["MULTI"], ["HGET", keys.publishedSnapshot, "position"], ["LRANGE", keys.publishedSnapshotChunks, "0", "-1"], ["EXEC"],
        ])
        guard let results = replies.last?.array, results.count == 2 else { throw RedisError.unexpectedReply("published snapshot \(replies)") }
        guard let position = results[0].string.flatMap({ LogPosition($0) }), let chunks = results[1].array, !chunks.isEmpty else { return nil }
        var bytes: [UInt8] = []
        for chunk in chunks {
            guard case .bulk(let piece) = chunk else { throw RedisError.unexpectedReply("published snapshot chunk \(chunk)") }
            bytes += piece
        }
        return (position, bytes)
    }
}
