import Testing
@testable import WPWithinMetrics

@Suite struct MetricsTests {
    @Test func countersGaugesAndComputedSeriesAreExposedSorted() {
        let registry = MetricsRegistry()
        let succeeded = registry.counter("wpw_payments_total", help: "Payments.", labels: [("outcome", "succeeded")])
        registry.counter("wpw_payments_total", help: "Payments.", labels: [("outcome", "failed")]).increment()
        succeeded.increment(by: 2)
        // The same label set is the same series.
        registry.counter("wpw_payments_total", help: "Payments.", labels: [("outcome", "succeeded")]).increment()
        registry.gauge("wpw_pending", help: "Pending.").set(-3)
        registry.computed("wpw_cpu_seconds_total", .counter, help: "CPU.") { 1.5 }
        #expect(registry.exposition() == """
            # HELP wpw_cpu_seconds_total CPU.
            # TYPE wpw_cpu_seconds_total counter
            wpw_cpu_seconds_total 1.5
            # HELP wpw_payments_total Payments.
            # TYPE wpw_payments_total counter
            wpw_payments_total{outcome="failed"} 1
            wpw_payments_total{outcome="succeeded"} 3
            # HELP wpw_pending Pending.
            # TYPE wpw_pending gauge
            wpw_pending -3

            """)
    }

    @Test func histogramsAreCumulativeWithSumAndCount() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("wpw_commit_seconds", help: "Commits.", upperBounds: [0.001, 0.01], labels: [("durable", "true")])
        histogram.observe(0.0005)
        histogram.observe(0.001)  // on the bound: in that bucket
        histogram.observe(0.005)
        histogram.observe(.seconds(2))
        #expect(registry.exposition() == """
            # HELP wpw_commit_seconds Commits.
            # TYPE wpw_commit_seconds histogram
            wpw_commit_seconds_bucket{durable="true",le="0.001"} 2
            wpw_commit_seconds_bucket{durable="true",le="0.01"} 3
            wpw_commit_seconds_bucket{durable="true",le="+Inf"} 4
            wpw_commit_seconds_sum{durable="true"} 2.0065
            wpw_commit_seconds_count{durable="true"} 4

            """)
    }

    @Test func labelValuesAndHelpAreEscaped() {
        let registry = MetricsRegistry()
        registry.counter("wpw_x_total", help: "a \\ b\nc", labels: [("v", "q\"\\\n")]).increment()
        #expect(registry.exposition() == """
            # HELP wpw_x_total a \\\\ b\\nc
            # TYPE wpw_x_total counter
            wpw_x_total{v="q\\"\\\\\\n"} 1

            """)
    }

    @Test func concurrentIncrementsAreAllCounted() async {
        let registry = MetricsRegistry()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let counter = registry.counter("wpw_n_total", help: "N.")
                    let histogram = registry.histogram("wpw_h", help: "H.", upperBounds: [1])
                    for _ in 0..<1000 {
                        counter.increment()
                        histogram.observe(0.5)
                    }
                }
            }
        }
        #expect(registry.counter("wpw_n_total", help: "N.").current == 8000)
        #expect(registry.histogram("wpw_h", help: "H.", upperBounds: [1]).snapshot.count == 8000)
    }
}
