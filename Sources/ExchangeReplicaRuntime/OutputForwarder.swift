import ExchangeReplication

/// Carries a primary's outputs on to other logs: on the order path, a clearing partition
/// forwards the orders it accepted to their shards, and a shard sends trade legs, order ends
/// and amends back to the users' partitions.
///
/// The runtime hands it each batch of outputs before appending them to the output log, so
/// every output in the log had its forwards appended first: a new primary never looks back,
/// it forwards what it emits. A deposed primary may forward outputs the next primary forwards
/// again; they are identical (outputs are a function of the input log), so appends must be
/// idempotent per source position: tagged with it, under one producer name per source log.
///
/// An output's traces go with what it forwards: each forwarded entry carries the traces of
/// the orders it concerns.
///
/// Since the forwards come first, an output may keep out of the log what only its forward
/// needed (a handed-over book, which its new owner's input log then holds): `forward` returns
/// the outputs as the log is to keep them.
public protocol OutputForwarder: Sendable {
    /// Appends what `outputs` (in position order) carry to other logs; returns once Redis
    /// acknowledged every append, with `outputs` as the output log keeps them (same positions
    /// and traces). A `RedisError` leaves the outcome unknown: the runtime then reloads and
    /// forwards again, or, for `notReplicated` (Redis's replicas did not acknowledge in time),
    /// forwards the same outputs again at its next turn without reloading.
    func forward(_ outputs: [EmittedOutput]) async throws -> [EmittedOutput]
}
