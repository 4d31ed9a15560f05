/// Latency samples and their summary (p50, p99, mean), printed by every subcommand the same way.
struct LatencyStats {
    private(set) var samples: [Duration] = []

    init(capacity: Int) { samples.reserveCapacity(capacity) }

    mutating func add(_ sample: Duration) { samples.append(sample) }

    mutating func add(nanoseconds: UInt64) { samples.append(.nanoseconds(Int64(nanoseconds))) }

    var count: Int { samples.count }

    mutating func append(contentsOf other: LatencyStats) { samples += other.samples }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
    }

    /// Nearest-rank percentile in milliseconds.
    func percentileMs(_ p: Double) -> Double { Self.milliseconds(percentile(p)) }

    var meanMs: Double { Self.milliseconds(mean) }

    func percentile(_ p: Double) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    var mean: Duration {
        guard !samples.isEmpty else { return .zero }
        return samples.reduce(.zero, +) / samples.count
    }

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = Double(seconds) * 1e6 + Double(attoseconds) / 1e12
        return String(Int(micros.rounded())) + " µs"
    }

    func report(name: String, total: Duration) -> String {
        let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(samples.count) / seconds : 0
        return """
            \(name): n=\(samples.count) p50=\(Self.microseconds(percentile(50))) p99=\(Self.microseconds(percentile(99))) \
            mean=\(Self.microseconds(mean)) max=\(Self.microseconds(percentile(100))) throughput=\(Int(rate))/s
            """
    }
}
