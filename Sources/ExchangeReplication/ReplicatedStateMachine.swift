import ExchangeCore

/// One input log entry, as a replica applies it.
public struct InputEntry: Sendable, Equatable {
    public var position: LogPosition
    /// The log's time for this entry (Redis server time at append, microseconds since the
    /// Unix epoch): the only time a deterministic state machine may read.
    public var timestampMicroseconds: UInt64
    public var payload: [UInt8]

    public init(position: LogPosition, timestampMicroseconds: UInt64, payload: [UInt8]) {
        self.position = position
        self.timestampMicroseconds = timestampMicroseconds
        self.payload = payload
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
}

extension ReplicatedStateMachine {
    /// Applies `entry` and drops its output (machines whose encoding costs override this).
    public mutating func applyWithoutOutput(_ entry: InputEntry) { _ = apply(entry) }
}
