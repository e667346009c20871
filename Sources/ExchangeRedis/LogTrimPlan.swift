import ExchangeReplication

/// How far a replicated log's input and output may be trimmed: below what every reader still
/// needs, and nothing more. Pure: `ReplicaLogStore.trim` gathers the facts and carries it out.
///
/// - The input log keeps every entry after the oldest of: the published snapshot (a new or
///   reloading replica starts there), each live replica's last snapshot, and the input
///   position of each consumer's last taken output (the gateways' projection reads the input
///   an output answers).
/// - The output log keeps every entry from the oldest of: the first output after the
///   published snapshot (market data and audits rebuild from the snapshot plus the outputs
///   after it; the log's last entry if none follows it yet, so the output watermark
///   survives), each consumer's last taken entry, and the retention floor (outputs younger
///   than the retention stay for readers that report no position: gateways' waiters, the
///   market data's ticker window, the wallet reading outcomes).
/// - A required consumer that has never reported holds everything: nothing is trimmed until
///   it has (a recorder that has not started yet must not find its log gone).
public struct LogTrimPlan: Sendable, Equatable {
    /// What a consumer reported: the last output entry it durably took and, if that entry is
    /// still in the log, the input position it answers.
    public struct Consumer: Sendable, Equatable {
        public var name: String
        public var taken: StreamID
        /// Nil when the entry is gone (then no input may be trimmed for it).
        public var takenPosition: LogPosition?

        public init(name: String, taken: StreamID, takenPosition: LogPosition?) {
            self.name = name
            self.taken = taken
            self.takenPosition = takenPosition
        }
    }

    /// Input entries at or below this position may go; 0: none.
    public var inputThrough: LogPosition
    /// Output entries whose ids are below this may go; nil: none.
    public var outputBelow: StreamID?

    public init(inputThrough: LogPosition, outputBelow: StreamID?) {
        self.inputThrough = inputThrough
        self.outputBelow = outputBelow
    }

    public static let nothing = LogTrimPlan(inputThrough: 0, outputBelow: nil)

    /// - Parameters:
    ///   - published: the published snapshot's position (0: none, then nothing is trimmed).
    ///   - replicaSnapshots: each live replica's last snapshot position.
    ///   - firstOutputAfterPublished: the first output entry answering an input after `published`.
    ///   - lastOutput: the output log's newest entry (nil: an empty log).
    ///   - retentionFloor: the id of the oldest output time that must stay (now − retention).
    public static func plan(
        published: LogPosition, replicaSnapshots: [LogPosition], consumers: [Consumer], required: Set<String>,
        firstOutputAfterPublished: StreamID?, lastOutput: StreamID?, retentionFloor: StreamID
    ) -> LogTrimPlan {
        guard published > 0, required.isSubset(of: Set(consumers.map(\.name))) else { return .nothing }
        let inputThrough = consumers.map { $0.takenPosition ?? 0 }.reduce(replicaSnapshots.reduce(published, min), min)
        guard let lastOutput else { return LogTrimPlan(inputThrough: inputThrough, outputBelow: nil) }
        let outputBelow = consumers.map(\.taken).reduce(min(firstOutputAfterPublished ?? lastOutput, retentionFloor), min)
        return LogTrimPlan(inputThrough: inputThrough, outputBelow: outputBelow)
    }
}

/// A primary's trimming policy (`ReplicaLogStore.trim`).
public struct LogTrimming: Sendable, Equatable {
    /// Consumers that must have reported a position before anything is trimmed.
    public var requiredConsumers: Set<String>
    /// Output entries younger than this stay, whatever the consumers took.
    public var outputRetention: Duration

    public init(requiredConsumers: Set<String>, outputRetention: Duration) {
        self.requiredConsumers = requiredConsumers
        self.outputRetention = outputRetention
    }
}
