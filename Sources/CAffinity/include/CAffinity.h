#ifndef OPENEXCHANGE_CAFFINITY_H
#define OPENEXCHANGE_CAFFINITY_H

/// Pins the calling thread to `cpu` (Linux `sched_setaffinity`). Returns 0 on success, else
/// an errno value; always ENOSYS elsewhere.
int exchange_pin_current_thread(int cpu);

/// Runs the calling thread under `SCHED_FIFO` at `priority` (1...99), or back under the
/// normal `SCHED_OTHER` with 0 (Linux; needs CAP_SYS_NICE or an RLIMIT_RTPRIO to raise).
/// Returns 0 on success, else an errno value; always ENOSYS elsewhere.
int exchange_set_current_thread_realtime(int priority);

#endif
