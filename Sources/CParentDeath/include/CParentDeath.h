#ifndef OPENEXCHANGE_CPARENTDEATH_H
#define OPENEXCHANGE_CPARENTDEATH_H

/// Asks the kernel to send `signal` to this process when its parent thread exits (Linux
/// `prctl(PR_SET_PDEATHSIG)`, which Swift cannot call: it is variadic). Returns 0 on success,
/// else an errno value; always ENOSYS elsewhere.
int exchange_set_parent_death_signal(int signal);

#endif
