/// Snowflake ids: `milliseconds since 2025-01-01 (41 bits) · worker (10 bits) · sequence
/// (12 bits)`, so ids from one worker strictly increase and two workers never collide.
/// Ids are below 2^63 (they fit PostgreSQL's `bigint` and every JSON parser's integers as far
/// as 2^53 until about 2059... more precisely, they are positive `Int64`s).
///
/// A pure value: the caller passes the time in. A clock that steps back is ridden out by
/// continuing from the last millisecond used; 4,096 ids in one millisecond borrow the next.
public struct SnowflakeGenerator: Sendable {
    /// 2025-01-01T00:00:00Z in milliseconds since the Unix epoch.
    public static let epochMilliseconds: UInt64 = 1_735_689_600_000
    public static let maximumWorker: UInt16 = 1_023
    static let sequenceBits: UInt64 = 12
    static let workerBits: UInt64 = 10

    public let worker: UInt16
    private(set) var lastMilliseconds: UInt64 = 0
    private(set) var sequence: UInt64 = 0

    public init(worker: UInt16) {
        precondition(worker <= Self.maximumWorker, "worker id out of range")
        self.worker = worker
    }

    /// The next id at wall-clock time `nowMilliseconds` (Unix epoch).
    public mutating func next(nowMilliseconds: UInt64) -> UInt64 {
        let now = max(nowMilliseconds, Self.epochMilliseconds) - Self.epochMilliseconds
        if now > lastMilliseconds {
            lastMilliseconds = now
            sequence = 0
        } else {
            sequence += 1
            if sequence >> Self.sequenceBits != 0 {
                lastMilliseconds += 1
                sequence = 0
            }
        }
        precondition(lastMilliseconds < 1 << 41, "snowflake time overflow")
        return lastMilliseconds << (Self.workerBits + Self.sequenceBits) | UInt64(worker) << Self.sequenceBits | sequence
    }

    /// Makes every later id greater than `id` (one of this worker's, issued elsewhere: by an
    /// earlier holder of the worker id whose clock ran ahead of this one's).
    public mutating func issue(after id: UInt64) {
        let milliseconds = id >> (Self.workerBits + Self.sequenceBits)
        let sequence = id & (1 << Self.sequenceBits - 1)
        if milliseconds > lastMilliseconds || (milliseconds == lastMilliseconds && sequence > self.sequence) {
            lastMilliseconds = milliseconds
            self.sequence = sequence
        }
    }

    /// Makes every later id's time later than `unixMilliseconds` (when an earlier holder of the
    /// worker id may have issued ids, by its own clock).
    public mutating func issue(afterMilliseconds unixMilliseconds: UInt64) {
        let milliseconds = max(unixMilliseconds, Self.epochMilliseconds) - Self.epochMilliseconds
        issue(after: milliseconds << (Self.workerBits + Self.sequenceBits) | UInt64(worker) << Self.sequenceBits | (1 << Self.sequenceBits - 1))
    }

    /// The Unix time in milliseconds encoded in `id`.
    public static func milliseconds(of id: UInt64) -> UInt64 {
        (id >> (workerBits + sequenceBits)) + epochMilliseconds
    }

    /// The worker id encoded in `id`.
    public static func worker(of id: UInt64) -> UInt16 {
        UInt16(truncatingIfNeeded: (id >> sequenceBits) & (1 << workerBits - 1))
    }
}
