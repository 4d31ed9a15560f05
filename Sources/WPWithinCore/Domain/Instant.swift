/// A point in time with nanosecond precision: seconds since the Unix epoch (UTC) plus a nanosecond part.
///
/// The domain never reads a clock: callers pass `now`. Go's zero `time.Time` (0001-01-01T00:00:00Z) is
/// `Instant.goZero`; it is earlier than any real expiry, so a token with a missing expiry counts as expired.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    public let secondsSinceEpoch: Int64
    /// 0 ..< 1_000_000_000.
    public let nanoseconds: Int32

    public init(secondsSinceEpoch: Int64, nanoseconds: Int32 = 0) {
        precondition(nanoseconds >= 0 && nanoseconds < 1_000_000_000, "nanoseconds out of range")
        self.secondsSinceEpoch = secondsSinceEpoch
        self.nanoseconds = nanoseconds
    }

    /// Go's zero time, 0001-01-01T00:00:00Z.
    public static let goZero = Instant(secondsSinceEpoch: -62_135_596_800)

    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        (lhs.secondsSinceEpoch, lhs.nanoseconds) < (rhs.secondsSinceEpoch, rhs.nanoseconds)
    }

    /// `self + duration`, or nil on overflow.
    public func adding(_ duration: Duration) -> Instant? {
        let (seconds, attoseconds) = duration.components
        var nanos = Int64(nanoseconds) + attoseconds / 1_000_000_000
        var secs = seconds
        if nanos >= 1_000_000_000 { nanos -= 1_000_000_000; secs += 1 }
        if nanos < 0 { nanos += 1_000_000_000; secs -= 1 }
        let (total, overflow) = secondsSinceEpoch.addingReportingOverflow(secs)
        guard !overflow else { return nil }
        return Instant(secondsSinceEpoch: total, nanoseconds: Int32(nanos))
    }

    /// The duration from `other` to `self`.
    public func duration(since other: Instant) -> Duration {
        .seconds(secondsSinceEpoch - other.secondsSinceEpoch) + .nanoseconds(Int64(nanoseconds) - Int64(other.nanoseconds))
    }

    public var description: String { "\(secondsSinceEpoch).\(nanoseconds)s" }
}
