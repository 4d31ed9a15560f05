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

extension Instant {
    /// UTC, millisecond precision (what event `time` fields carry): `2026-11-25T06:35:14.123Z` (the same shape as in-memory events).
    /// Written by hand (civil date from days, H. Hinnant's algorithm): every committed event gets one, and
    /// Foundation's ISO 8601 format style cost more than the rest of the event's delivery.
    public var rfc3339Milliseconds: String {
        let (year, month, day, secondOfDay) = utcDate
        let millis = Int(nanoseconds) / 1_000_000
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func put(_ value: Int, _ width: Int) {
            var digits: [UInt8] = []
            var v = value
            for _ in 0..<width { digits.append(UInt8(48 + v % 10)); v /= 10 }
            out.append(contentsOf: digits.reversed())
        }
        put(year, 4); out.append(0x2D); put(month, 2); out.append(0x2D); put(day, 2); out.append(0x54)
        put(secondOfDay / 3600, 2); out.append(0x3A); put(secondOfDay / 60 % 60, 2); out.append(0x3A)
        put(secondOfDay % 60, 2); out.append(0x2E); put(millis, 3); out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    /// The UTC calendar date (proleptic Gregorian, H. Hinnant's days-to-civil algorithm) and the second of that day.
    public var utcDate: (year: Int, month: Int, day: Int, secondOfDay: Int) {
        let seconds = secondsSinceEpoch
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        return (year, month, day, secondOfDay)
    }
}

extension Instant {
    /// Milliseconds since the epoch (saturating), for the stores' audit columns.
    public var milliseconds: Int64 {
        let (ms, overflow) = secondsSinceEpoch.multipliedReportingOverflow(by: 1000)
        if overflow { return secondsSinceEpoch < 0 ? .min : .max }
        return ms + Int64(nanoseconds) / 1_000_000
    }

    /// From milliseconds since the epoch (audit columns).
    public init(milliseconds: Int64) {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        self.init(secondsSinceEpoch: seconds, nanoseconds: Int32((milliseconds - seconds * 1000) * 1_000_000))
    }
}
