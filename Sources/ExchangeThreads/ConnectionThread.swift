import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A dedicated OS thread that runs async jobs and owns blocking Redis connections
/// (`RedisClient(configuration:ownedBy:)`): a client it owns does its I/O right on this thread,
/// with no hand-off to a worker and back.
///
/// It is both a serial executor (an actor can run on it: `ReplicaRuntime` does) and a task
/// executor (`withTaskExecutorPreference` keeps nonisolated async code on it), so a replica's
/// loop, its Redis calls and their replies stay on one thread; each hop between threads costs a
/// wake-up, tens of microseconds on a busy virtual machine. Blocking here is by design (it is
/// neither the async pool nor an event loop); anything long that is not this thread's own I/O
/// (compressing a snapshot) belongs elsewhere.
///
/// The thread runs until the executor is deinitialised and its queue is empty.
public final class ConnectionThread: SerialExecutor, TaskExecutor, @unchecked Sendable {
    private let queue: JobQueue

    /// Starts the thread.
    public init(name: String) {
        let queue = JobQueue()
        self.queue = queue
        let started = DispatchSemaphore(value: 0)
        let thread = Thread {
            queue.setOwner(pthread_self())
            started.signal()
            queue.run()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    deinit { queue.close() }

    /// Whether the caller runs on this thread.
    public var isCurrent: Bool { queue.isOwnerCurrent }

    public func enqueue(_ job: consuming ExecutorJob) {
        queue.push(UnownedJob(job), executor: self)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    public func isSameExclusiveExecutionContext(other: ConnectionThread) -> Bool { self === other }

    public func checkIsolated() {
        precondition(isCurrent, "not on connection thread")
    }
}

/// The jobs waiting for a `ConnectionThread`, and the loop that runs them.
///
/// `@unchecked Sendable`: `owner` is written once, before the thread runs anything, and only
/// read after.
private final class JobQueue: @unchecked Sendable {
    private let jobs = BlockingQueue<(job: UnownedJob, executor: ConnectionThread)>()
    private var owner: pthread_t?

    func setOwner(_ thread: pthread_t) { owner = thread }

    var isOwnerCurrent: Bool {
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    /// A job enqueued by the thread itself (a hop between the actor and nonisolated code)
    /// needs no wake-up: the thread takes it after the current one.
    func push(_ job: UnownedJob, executor: ConnectionThread) {
        jobs.push((job, executor), wake: !isOwnerCurrent)
    }

    func close() { jobs.close() }

    /// Runs jobs in order until closed and drained. Each queued job holds its executor, so the
    /// executor outlives the jobs it was given.
    func run() {
        while let batch = jobs.takeAll() {
            for (job, executor) in batch {
                job.runSynchronously(isolatedTo: executor.asUnownedSerialExecutor(), taskExecutor: executor.asUnownedTaskExecutor())
            }
        }
    }
}
