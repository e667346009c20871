/// Which shard a clearing partition's output at a given position sends a symbol's commands to,
/// as a function of that position alone, so that every primary that ever forwards the output
/// (a deposed one, its successor, a retry) sends them to the same shard.
///
/// Each placement change of a symbol (its registration, each move) records a **cut** per
/// partition: the partition's last input position when the change was made. An output at
/// position `p` of partition `P` routes to the shard of the last change whose cut for `P` is
/// below `p`; before the first change, nowhere (the symbol did not exist).
///
/// Why this is final: an output's position was appended to its partition's input log before
/// the output existed, so a change made later has a cut at or above it and does not apply.
/// A router that knows every change made up to the moment its forward is appended (the
/// registry's change token and version guard the append, or it read the registry after the output's input
/// was appended) therefore computes the answer every later router computes. Routing by the placement current at the forward instead could send an order
/// forwarded before a move to the old owner and, retried after it, to the new one.
///
/// Text form (the symbol's field of the registry's `cluster:placement-history` hash): changes
/// oldest first, separated by `;`, each `TO@CUT0,CUT1,...` (one cut per partition, in
/// partition order).
public struct PlacementHistory: Sendable, Equatable {
    /// One placement change: the symbol's shard from the cuts on.
    public struct Change: Sendable, Equatable {
        public var shard: ShardID
        /// Per partition (index = partition number): its last input position at the change.
        public var cuts: [UInt64]

        public init(shard: ShardID, cuts: [UInt64]) {
            self.shard = shard
            self.cuts = cuts
        }
    }

    /// Oldest first (as the registry records them, a later change's cuts are never below an
    /// earlier one's).
    public let changes: [Change]

    /// The shard an output of `partition` at `position` routes to: that of the last change
    /// whose cut for `partition` is below `position`; nil before the first (or for a partition
    /// a change has no cut for, which a fixed partition count rules out).
    public func shard(partition: PartitionID, position: UInt64) -> ShardID? {
        for change in changes.reversed() {
            guard Int(partition) < change.cuts.count else { return nil }
            if position > change.cuts[Int(partition)] { return change.shard }
        }
        return nil
    }

    /// Reads the text form; nil if it is malformed.
    public init?(text: String) {
        var changes: [Change] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: false) {
            let fields = part.split(separator: "@", omittingEmptySubsequences: false)
            guard fields.count == 2, let shard = ShardID(fields[0]) else { return nil }
            var cuts: [UInt64] = []
            for cut in fields[1].split(separator: ",", omittingEmptySubsequences: false) {
                guard let value = UInt64(cut) else { return nil }
                cuts.append(value)
            }
            changes.append(Change(shard: shard, cuts: cuts))
        }
        self.changes = changes
    }
}
