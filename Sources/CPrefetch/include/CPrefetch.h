#ifndef OPENEXCHANGE_CPREFETCH_H
#define OPENEXCHANGE_CPREFETCH_H

/// Hints the CPU to load the cache line at `address` for reading soon. No effect on
/// correctness; Swift has no prefetch intrinsic.
static inline void exchange_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
