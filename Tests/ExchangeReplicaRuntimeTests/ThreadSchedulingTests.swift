import CAffinity
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real-time switch leaders use (`--realtime-priority`), on a thread of its own.
@Suite struct ThreadSchedulingTests {
    /// Runs `body` on a fresh OS thread and returns its result.
    func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    @Test("a thread goes to SCHED_FIFO at a priority and back to normal; out-of-range priorities are refused")
    func realtimeAndBack() async {
        let (raised, policyRaised, lowered, policyLowered, tooHigh) = await onThread {
            let raised = exchange_set_current_thread_realtime(10)
            let policyRaised = sched_getscheduler(0)
            let lowered = exchange_set_current_thread_realtime(0)
            return (raised, policyRaised, lowered, sched_getscheduler(0), exchange_set_current_thread_realtime(100))
        }
        #expect(tooHigh == EINVAL)
        #expect(lowered == 0 && policyLowered == SCHED_OTHER)
        // Without CAP_SYS_NICE (not root, no RLIMIT_RTPRIO) raising is refused, as replicas log.
        if raised == 0 {
            #expect(policyRaised == SCHED_FIFO)
        } else {
            #expect(raised == EPERM && policyRaised == SCHED_OTHER)
        }
    }
}
