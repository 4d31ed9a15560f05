import Testing
import WPWithinDaemon

@Suite struct AllocatorTuningTests {
    @Test func setsOneMebibyteByDefault() {
        #expect(AllocatorTuning.trimThreshold(environment: [:]) == 1 << 20)
        #expect(AllocatorTuning.trimThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"]) == 1 << 20)
        // A name that only starts like the tunable is not it.
        #expect(AllocatorTuning.trimThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.trim_thresholdx=1"]) == 1 << 20)
    }

    @Test func leavesTheOperatorsChoiceAlone() {
        #expect(AllocatorTuning.trimThreshold(environment: ["MALLOC_TRIM_THRESHOLD_": "131072"]) == nil)
        #expect(AllocatorTuning.trimThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"]) == nil)
        #expect(AllocatorTuning.trimThreshold(
            environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=0"]) == nil)
    }
}
