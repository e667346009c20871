#define _GNU_SOURCE
#include "CAffinity.h"
#include <errno.h>
#ifdef __linux__
#include <pthread.h>
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

int exchange_set_current_thread_realtime(int priority) {
#ifdef __linux__
    struct sched_param parameter = { .sched_priority = priority };
    if (priority == 0) return pthread_setschedparam(pthread_self(), SCHED_OTHER, &parameter);
    if (priority < sched_get_priority_min(SCHED_FIFO) || priority > sched_get_priority_max(SCHED_FIFO)) return EINVAL;
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameter);
#else
    (void)priority;
    return ENOSYS;
#endif
}
