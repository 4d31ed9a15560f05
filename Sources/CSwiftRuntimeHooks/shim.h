#pragma once
// The Swift runtime's hook for jobs sent to the global concurrent executor (libswift_Concurrency).
// SwiftNIO's takeover finds it with dlsym, which works while the runtime is a shared library. Linked
// statically (--static-swift-stdlib) the symbol is hidden: dlsym cannot see it, but an object of ours can
// still name it at link time, which is what this header does.
extern void *_Nullable swift_task_enqueueGlobal_hook;

static inline void *_Nullable *_Nonnull wpw_swift_task_enqueueGlobal_hook_address(void) {
    return &swift_task_enqueueGlobal_hook;
}
