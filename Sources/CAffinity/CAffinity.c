#define _GNU_SOURCE
#include "CAffinity.h"
#include <errno.h>
#ifdef __linux__
#include <sched.h>
#endif

int exchange_pin_current_thread(int cpu) {
#ifdef __linux__
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
#else
    (void)cpu;
    return ENOSYS;
#endif
}
