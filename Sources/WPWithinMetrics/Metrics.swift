import Synchronization

/// A counter that only goes up (Prometheus `counter`). Lock-free: an increment is one atomic add.
public final class MetricsCounter: Sendable {
    private let value = Atomic<UInt64>(0)

    init() {}

    public func increment(by amount: UInt64 = 1) { value.add(amount, ordering: .relaxed) }

    public var current: UInt64 { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (Prometheus `gauge`).
public final class MetricsGauge: Sendable {
    private let value = Atomic<Int64>(0)

    init() {}

    public func set(_ newValue: Int64) { value.store(newValue, ordering: .relaxed) }

    public func add(_ amount: Int64) { value.add(amount, ordering: .relaxed) }

    public var current: Int64 { value.load(ordering: .relaxed) }
}

/// Observations counted into fixed buckets (Prometheus `histogram`), in seconds.
public final class MetricsHistogram: Sendable {
    /// The buckets' upper bounds, ascending (`+Inf` is implied).
    public let upperBounds: [Double]
    private let state: Mutex<(buckets: [UInt64], sum: Double, count: UInt64)>

    init(upperBounds: [Double]) {
        self.upperBounds = upperBounds
        state = Mutex((Array(repeating: 0, count: upperBounds.count), 0, 0))
    }

    public func observe(_ value: Double) {
        let index = upperBounds.firstIndex { value <= $0 }
        state.withLock { state in
            if let index { state.buckets[index] += 1 }
            state.sum += value
            state.count += 1
        }
    }

    public func observe(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Cumulative counts per bound (as exposed), the sum and the count.
    public var snapshot: (cumulative: [UInt64], sum: Double, count: UInt64) {
        let (buckets, sum, count) = state.withLock { ($0.buckets, $0.sum, $0.count) }
        var running: UInt64 = 0
        return (buckets.map { running += $0; return running }, sum, count)
    }
}

/// The daemon's metrics, and their Prometheus text exposition (format 0.0.4).
///
/// A family (one name, one type, one help text) holds one series per label set; asking for a series that
/// exists returns it, so callers may look series up at each use or keep them. Label values should come from
/// bounded sets (method names the daemon serves, error codes, outcomes): never from what a client sends.
public final class MetricsRegistry: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public typealias Labels = [(String, String)]

    private enum Series: Sendable {
        case counter(MetricsCounter)
        case gauge(MetricsGauge)
        case histogram(MetricsHistogram)
        /// Read when scraped (process figures, connection counts).
        case computed(@Sendable () -> Double)
    }

    private struct Family: Sendable {
        var kind: Kind
        var help: String
        var series: [String: (labels: Labels, value: Series)] = [:]
    }

    private let families = Mutex<[String: Family]>([:])

    public init() {}

    public func counter(_ name: String, help: String, labels: Labels = []) -> MetricsCounter {
        series(name, .counter, help, labels, make: { .counter(MetricsCounter()) }) {
            if case .counter(let counter) = $0 { return counter }
            return nil
        }
    }

    public func gauge(_ name: String, help: String, labels: Labels = []) -> MetricsGauge {
        series(name, .gauge, help, labels, make: { .gauge(MetricsGauge()) }) {
            if case .gauge(let gauge) = $0 { return gauge }
            return nil
        }
    }

    public func histogram(_ name: String, help: String, upperBounds: [Double], labels: Labels = []) -> MetricsHistogram {
        series(name, .histogram, help, labels, make: { .histogram(MetricsHistogram(upperBounds: upperBounds)) }) {
            if case .histogram(let histogram) = $0 { return histogram }
            return nil
        }
    }

    /// A series whose value is read at each scrape (`kind` `.gauge` or `.counter`).
    public func computed(_ name: String, _ kind: Kind, help: String, labels: Labels = [], _ read: @escaping @Sendable () -> Double) {
        families.withLock { families in
            var family = families[name] ?? Family(kind: kind, help: help)
            precondition(family.kind == kind, "metric \(name) registered as \(family.kind) and \(kind)")
            family.series[Self.key(labels)] = (labels, .computed(read))
            families[name] = family
        }
    }

    private func series<M>(
        _ name: String, _ kind: Kind, _ help: String, _ labels: Labels, make: () -> Series, _ cast: (Series) -> M?
    ) -> M {
        families.withLock { families in
            var family = families[name] ?? Family(kind: kind, help: help)
            precondition(family.kind == kind, "metric \(name) registered as \(family.kind) and \(kind)")
            let key = Self.key(labels)
            if let existing = family.series[key], let metric = cast(existing.value) { return metric }
            let created = make()
            family.series[key] = (labels, created)
            families[name] = family
            return cast(created)!
        }
    }

    private static func key(_ labels: Labels) -> String {
        var key = ""
        for (name, value) in labels {
            key += name
            key += "\u{1F}"
            key += value
            key += "\u{1E}"
        }
        return key
    }

    /// Every family, sorted by name, its series sorted by labels: `# HELP`, `# TYPE`, then the samples.
    public func exposition() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let family = snapshot[name]!
            out += "# HELP \(name) \(Self.escapeHelp(family.help))\n"
            out += "# TYPE \(name) \(family.kind.rawValue)\n"
            for key in family.series.keys.sorted() {
                let (labels, series) = family.series[key]!
                switch series {
                case .counter(let counter):
                    out += "\(name)\(Self.render(labels)) \(counter.current)\n"
                case .gauge(let gauge):
                    out += "\(name)\(Self.render(labels)) \(gauge.current)\n"
                case .computed(let read):
                    out += "\(name)\(Self.render(labels)) \(Self.format(read()))\n"
                case .histogram(let histogram):
                    let (cumulative, sum, count) = histogram.snapshot
                    for (bound, total) in zip(histogram.upperBounds, cumulative) {
                        out += "\(name)_bucket\(Self.render(labels + [("le", Self.format(bound))])) \(total)\n"
                    }
                    out += "\(name)_bucket\(Self.render(labels + [("le", "+Inf")])) \(count)\n"
                    out += "\(name)_sum\(Self.render(labels)) \(Self.format(sum))\n"
                    out += "\(name)_count\(Self.render(labels)) \(count)\n"
                }
            }
        }
        return out
    }

    static func render(_ labels: Labels) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// A sample value: integers without a fraction, others as Swift prints a Double (`0.005`, `1e-05`).
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Label values escape `\`, `"` and newlines; help texts `\` and newlines.
    static func escapeLabel(_ value: String) -> String { escape(value, quotes: true) }

    static func escapeHelp(_ value: String) -> String { escape(value, quotes: false) }

    private static func escape(_ value: String, quotes: Bool) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"" where quotes: out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
