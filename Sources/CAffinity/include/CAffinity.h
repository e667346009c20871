#ifndef OPENEXCHANGE_CAFFINITY_H
#define OPENEXCHANGE_CAFFINITY_H

/// Pins the calling thread to `cpu` (Linux `sched_setaffinity`). Returns 0 on success, else
/// an errno value; always ENOSYS elsewhere.
int exchange_pin_current_thread(int cpu);

#endif
