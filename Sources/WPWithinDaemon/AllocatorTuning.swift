/// How the daemon sets glibc's allocator before its threads start.
///
/// The daemon's event-loop thread allocates from a glibc arena of its own (not the main one). glibc gives
/// the top of such an arena back to the kernel (`madvise(MADV_DONTNEED)`) whenever more than
/// `M_TRIM_THRESHOLD` (128 KiB) is free there, and a commit's next allocations fault the same pages in again:
/// per purchase flow, SQLite's commits did that cycle over and over (≈ 7 % of the producer's CPU in
/// `madvise` and page faults, docs/benchmarks.md). A 1 MiB threshold ends the cycle and keeps at most 1 MiB
/// more per arena (the daemon runs one event loop, so one or two arenas): RSS after the benchmark's flows
/// did not move.
public enum AllocatorTuning {
    /// The trim threshold the daemon sets.
    public static let trimThresholdBytes: Int32 = 1 << 20

    /// The threshold to set, or nil when the operator chose one: `GLIBC_TUNABLES` naming
    /// `glibc.malloc.trim_threshold`, or the older `MALLOC_TRIM_THRESHOLD_` (glibc reads both itself).
    public static func trimThreshold(environment: [String: String]) -> Int32? {
        if environment["MALLOC_TRIM_THRESHOLD_"] != nil { return nil }
        // (`String.contains(String)` would link the regex engine: split and compare prefixes instead.)
        let tunables = environment["GLIBC_TUNABLES"]?.split(separator: ":") ?? []
        if tunables.contains(where: { $0.hasPrefix("glibc.malloc.trim_threshold=") }) { return nil }
        return trimThresholdBytes
    }
}
