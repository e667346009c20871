import CParentDeath
import Foundation

/// A role that `exchange up` started ends with it: `up` puts its pid in
/// EXCHANGE_SUPERVISOR_PID, and the role asks the kernel for SIGTERM when its parent exits,
/// so even a `kill -9` of `up` leaves no role running (Redis and PostgreSQL, which are not
/// this binary, are the exception: `up` stops them itself).
public enum SupervisedProcess {
    /// Arms the parent-death signal when started by `up`. Returns false if `up` is already
    /// gone (it died between spawning this process and this call): the caller should exit.
    public static func bindToParent() -> Bool {
        guard let text = ProcessInfo.processInfo.environment["EXCHANGE_SUPERVISOR_PID"], let supervisor = Int32(text) else { return true }
        _ = exchange_set_parent_death_signal(SIGTERM)
        return getppid() == supervisor
    }
}
