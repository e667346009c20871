/// Runs `body`, which hands a feeder's appends to `submit`: each runs on a child task while the
/// feeder goes on building the next batch, one at a time in submission order, so every log gets
/// its entries in order and at most one batch is in flight. `submit` waits only for the append
/// before it. Returns once every append is done; the first failure ends the run.
///
/// A feeder that waited out each round trip stopped generating meanwhile and, when pacing,
/// caught up afterwards: its appends came in bursts of several lingers' worth of commands.
func withSerialAppends<Result>(
    _ body: (_ submit: (@escaping @Sendable () async throws -> Void) async throws -> Void) async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { appends in
        var inFlight = false
        func submit(_ append: @escaping @Sendable () async throws -> Void) async throws {
            if inFlight { try await appends.next() }
            appends.addTask(operation: append)
            inFlight = true
        }
        let result = try await body(submit)
        try await appends.waitForAll()
        return result
    }
}
