import ExchangeCore

/// One input log entry, as a replica applies it.
public struct InputEntry: Sendable, Equatable {
    public var position: LogPosition
    /// The log's time for this entry (Redis server time at append, microseconds since the
    /// Unix epoch): the only time a deterministic state machine may read.
    public var timestampMicroseconds: UInt64
    public var payload: [UInt8]
    /// The entry's traced orders: metadata for the runtime, never read by a state machine.
    public var traces: EntryTraces

    public init(position: LogPosition, timestampMicroseconds: UInt64, payload: [UInt8], traces: EntryTraces = .none) {
        self.position = position
        self.timestampMicroseconds = timestampMicroseconds
        self.payload = payload
        self.traces = traces
    }
}

/// What a primary emitted for one input entry, as it forwards and appends it.
public struct EmittedOutput: Sendable, Equatable {
    /// The input entry's position (output logs hold one entry per input position).
    public var position: LogPosition
    public var payload: [UInt8]
    /// The traced orders of the input, each now under the span of this replica's apply.
    public var traces: EntryTraces

    public init(position: LogPosition, payload: [UInt8], traces: EntryTraces = .none) {
        self.position = position
        self.payload = payload
        self.traces = traces
    }
}

/// A deterministic state machine a replica hosts: a matching shard or a clearing partition.
///
/// A value type: the runtime snapshots a copy on another task while it goes on applying.
///
/// Given the same entries in the same order, every instance reaches the same state
/// (`stateDigest`) and returns the same outputs, byte for byte. `apply` never fails: an
/// entry it cannot decode yields a deterministic output saying so.
public protocol ReplicatedStateMachine: Sendable {
    /// The state before the first entry.
    init()
    /// Applies `entry`; returns its outputs as one payload (possibly empty).
    mutating func apply(_ entry: InputEntry) -> [UInt8]
    /// Applies `entry` as a standby does: the same state change, no output built.
    mutating func applyWithoutOutput(_ entry: InputEntry)
    /// Streams the state's binary form (versioned and checksummed by the implementation).
    func writeSnapshot<Sink: SnapshotByteSink>(to sink: inout Sink) throws
    /// Rebuilds a state from `writeSnapshot`'s bytes.
    static func restore<Source: SnapshotByteSource>(from source: inout Source) throws -> Self
    /// A digest of the logical state, equal on replicas at the same position.
    var stateDigest: UInt64 { get }
    /// Whether `writeSnapshot` can write the state now: false while the state holds work under
    /// way that its binary form leaves out (a matching shard's symbol move). The runtime then
    /// tries again at the next snapshot interval.
    var isSnapshotReady: Bool { get }
    /// The name of the span a traced entry's apply is recorded under ("shard.apply"): what
    /// the entry is, read from its payload. Called only for entries that carry traces.
    static func spanName(of entry: InputEntry) -> String
}

extension ReplicatedStateMachine {
    /// Applies `entry` and drops its output (machines whose encoding costs override this).
    public mutating func applyWithoutOutput(_ entry: InputEntry) { _ = apply(entry) }

    public static func spanName(of entry: InputEntry) -> String { "apply" }

    public var isSnapshotReady: Bool { true }
}
