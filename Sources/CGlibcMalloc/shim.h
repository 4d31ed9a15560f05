#pragma once
// glibc's allocator tuning (<malloc.h> is not part of Swift's Glibc module).
#include <malloc.h>

/// `mallopt(M_TRIM_THRESHOLD, bytes)`: 1 on success.
static inline int wpw_malloc_set_trim_threshold(int bytes) {
    return mallopt(M_TRIM_THRESHOLD, bytes);
}
