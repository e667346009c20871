import CAffinity
import ExchangeReplication
import ExchangeThreads
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Owns a replica's state machine on one OS thread, optionally pinned to a CPU: the thread
/// only applies entries and copies or replaces the state; it never does I/O, takes no lock
/// while applying, and gets its work through a bounded queue.
///
/// `@unchecked Sendable`: `machine` is touched only by the thread (callers get copies, which
/// are values); `jobs` is a `BlockingQueue`.
final class MachineThread<Machine: ReplicatedStateMachine>: @unchecked Sendable {
    enum Job {
        /// Entries to apply, and whether their outputs are wanted (a primary's) or not.
        case apply([InputEntry], emitting: Bool, CheckedContinuation<[[UInt8]], Never>)
        case copy(CheckedContinuation<Machine, Never>)
        case digest(CheckedContinuation<UInt64, Never>)
        case replace(Machine, CheckedContinuation<Void, Never>)
        case realtimePriority(Int32, CheckedContinuation<Int32, Never>)
    }

    /// The most jobs queued at once; a replica's loop has one outstanding, so this is a guard.
    static var capacity: Int { 64 }

    private let jobs = BlockingQueue<Job>()
    private var machine = Machine()

    /// Starts the thread; with `cpu`, pins it there (Linux `sched_setaffinity`).
    init(name: String, cpu: Int?) {
        let thread = Thread { [self] in
            if let cpu { Self.pin(to: cpu) }
            run()
        }
        thread.name = name
        thread.start()
    }

    private static func pin(to cpu: Int) {
        let code = exchange_pin_current_thread(Int32(cpu))
        if code != 0 {
            FileHandle.standardError.write(Data("cannot pin to cpu \(cpu): \(String(cString: strerror(code)))\n".utf8))
        }
    }

    private func submit(_ job: Job) {
        guard let length = jobs.push(job) else { preconditionFailure("machine thread closed") }
        precondition(length <= Self.capacity, "machine thread queue full")
    }

    /// Applies `entries` in order; returns one output payload per entry when `emitting`,
    /// none otherwise (a standby's outputs are never built).
    func apply(_ entries: [InputEntry], emitting: Bool) async -> [[UInt8]] {
        await withCheckedContinuation { submit(.apply(entries, emitting: emitting, $0)) }
    }

    /// A copy of the current state (for snapshots and digests).
    func copy() async -> Machine {
        await withCheckedContinuation { submit(.copy($0)) }
    }

    /// The state's digest, computed on the thread (no copy of the state).
    func digest() async -> UInt64 {
        await withCheckedContinuation { submit(.digest($0)) }
    }

    /// Replaces the state (after restoring a snapshot).
    func replace(with state: Machine) async {
        await withCheckedContinuation { submit(.replace(state, $0)) }
    }

    /// Runs the thread under `SCHED_FIFO` at `priority`, or normally with 0; returns 0 or an
    /// errno value (see `exchange_set_current_thread_realtime`).
    func setRealtimePriority(_ priority: Int32) async -> Int32 {
        await withCheckedContinuation { submit(.realtimePriority(priority, $0)) }
    }

    /// Ends the thread after the queued jobs.
    func close() {
        jobs.close()
    }

    private func run() {
        while let batch = jobs.takeAll() {
            for job in batch { run(job) }
        }
    }

    private func run(_ job: Job) {
        switch job {
        case .apply(let entries, let emitting, let continuation):
            var outputs: [[UInt8]] = []
            if emitting {
                outputs.reserveCapacity(entries.count)
                for entry in entries { outputs.append(machine.apply(entry)) }
            } else {
                for entry in entries { machine.applyWithoutOutput(entry) }
            }
            continuation.resume(returning: outputs)
        case .copy(let continuation):
            continuation.resume(returning: machine)
        case .digest(let continuation):
            continuation.resume(returning: machine.stateDigest)
        case .replace(let state, let continuation):
            machine = state
            continuation.resume()
        case .realtimePriority(let priority, let continuation):
            continuation.resume(returning: exchange_set_current_thread_realtime(priority))
        }
    }
}
