@testable import ExchangeClusterTools
import Synchronization
import Testing

/// What every append saw: how many were running with it, and the order they ran in.
private final class AppendLog: Sendable {
    private let state = Mutex<(running: Int, mostRunning: Int, order: [Int])>((0, 0, []))

    func run(_ index: Int) async throws {
        state.withLock {
            $0.running += 1
            $0.mostRunning = max($0.mostRunning, $0.running)
            $0.order.append(index)
        }
        try await Task.sleep(for: .milliseconds(index % 3))
        state.withLock { $0.running -= 1 }
    }

    var mostRunning: Int { state.withLock { $0.mostRunning } }
    var order: [Int] { state.withLock { $0.order } }
}

private struct AppendFailed: Error {}

@Suite struct SerialAppendsTests {
    @Test func appendsRunOneAtATimeInSubmissionOrderAndAllFinishBeforeItReturns() async throws {
        let log = AppendLog()
        let submitted = try await withSerialAppends { submit in
            for index in 0..<20 { try await submit { try await log.run(index) } }
            return 20
        }
        #expect(submitted == 20)
        #expect(log.order == Array(0..<20))
        #expect(log.mostRunning == 1)
    }

    @Test(.timeLimit(.minutes(1))) func theSubmitterGoesOnWhileAnAppendIsInFlight() async throws {
        let release = Mutex(false)
        try await withSerialAppends { submit in
            try await submit {
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
            }
            // Back here while the first append still waits: the submitter was not held up.
            release.withLock { $0 = true }
        }
    }

    @Test func aFailedAppendEndsTheRunWithItsError() async throws {
        let log = AppendLog()
        await #expect(throws: AppendFailed.self) {
            try await withSerialAppends { submit in
                try await submit { throw AppendFailed() }
                for index in 1..<5 { try await submit { try await log.run(index) } }
            }
        }
        #expect(log.order.isEmpty)
    }
}
