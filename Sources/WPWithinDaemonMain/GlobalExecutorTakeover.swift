import CSwiftRuntimeHooks
import NIOCore
import NIOPosix

/// Makes SwiftNIO's event loops Swift Concurrency's global executor, so a call is parsed, handled, committed
/// and answered on one thread (docs/benchmarks.md).
///
/// NIO's own takeover finds the runtime's hook with dlsym, which fails when the Swift runtime is linked
/// into the executable (`--static-swift-stdlib`, the release build): the hook is a hidden symbol there.
/// Without the takeover every task ran on Dispatch's threads, a hop per await (measured: ≈ 25 % more CPU
/// per purchase flow and p50 5.1 instead of 4.2 ms). This installs the same hook through the symbol's
/// address instead (`CSwiftRuntimeHooks`), when NIO's way did not work.
enum GlobalExecutorTakeover: String {
    /// NIO's takeover (dlsym) worked: a shared Swift runtime.
    case nio
    /// Installed through the hook's address: a statically linked runtime.
    case hookAddress
    /// Not installed (turned off, or another hook was there): tasks run on the default executor.
    case none

    private typealias EnqueueGlobalHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// Call once, from `main`, before any other task is created.
    static func install() -> GlobalExecutorTakeover {
        if NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() { return .nio }
        let slot = wpw_swift_task_enqueueGlobal_hook_address()
        guard slot.pointee == nil else { return .none }
        // Like NIO's hook: `any()` is the loop the caller is on when it is one of the group's, so a task
        // started on the loop stays there.
        let hook: EnqueueGlobalHook = { job, _ in
            MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(ExecutorJob(job))
        }
        slot.pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
        return .hookAddress
    }
}
