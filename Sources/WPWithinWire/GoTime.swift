public import WPWithinCore

/// A Go `time.Time` as it travels in JSON: an instant with nanoseconds plus the UTC offset it was written
/// with, so that a token is re-encoded exactly as a Go peer would (offset and fraction kept).
///
/// Parsing accepts what Go's `time.Time.UnmarshalJSON` (RFC 3339) accepts: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction (`.` or `,` then one or more digits; digits after the ninth are dropped, as Go does),
/// then `Z` or `±HH:MM`. Formatting follows `MarshalJSON` (RFC3339Nano): the fraction with trailing
/// zeros trimmed (no dot when zero), `Z` for a zero offset.
public struct GoTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let instant: Instant
    /// Seconds east of UTC (`+01:00` is 3600).
    public let utcOffsetSeconds: Int

    public init(_ instant: Instant, utcOffsetSeconds: Int = 0) {
        self.instant = instant
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// Go's zero time, `0001-01-01T00:00:00Z`: what a missing or null time decodes to.
    public static let zero = GoTime(.goZero)

    public var isZero: Bool { instant == .goZero }

    /// Ordered by instant only (the offset does not change the point in time).
    public static func < (lhs: GoTime, rhs: GoTime) -> Bool { lhs.instant < rhs.instant }

    public var description: String { (try? format()) ?? "GoTime(\(instant))" }

    public struct FormatError: Error, Sendable, Hashable, CustomStringConvertible {
        public let input: String
        public let reason: String
        public var description: String { "invalid RFC 3339 time \"\(input)\": \(reason)" }
    }

    // MARK: Parsing

    public init(parsing string: String) throws {
        let u = Array(string.utf8)
        func fail(_ reason: String) -> FormatError { FormatError(input: string, reason: reason) }
        func digits(_ start: Int, _ count: Int) throws -> Int {
            guard start + count <= u.count else { throw fail("too short") }
            var v = 0
            for i in start..<start + count {
                guard u[i] >= 0x30 && u[i] <= 0x39 else { throw fail("expected a digit at \(i)") }
                v = v * 10 + Int(u[i] - 0x30)
            }
            return v
        }
        func expect(_ i: Int, _ c: Character) throws {
            guard i < u.count, u[i] == c.asciiValue! else { throw fail("expected '\(c)' at \(i)") }
        }
        let year = try digits(0, 4)
        try expect(4, "-")
        let month = try digits(5, 2)
        try expect(7, "-")
        let day = try digits(8, 2)
        try expect(10, "T")
        let hour = try digits(11, 2)
        try expect(13, ":")
        let minute = try digits(14, 2)
        try expect(16, ":")
        let second = try digits(17, 2)
        var i = 19
        var nanos = 0
        if i < u.count, u[i] == UInt8(ascii: ".") || u[i] == UInt8(ascii: ",") {
            i += 1
            var count = 0
            while i < u.count, u[i] >= 0x30 && u[i] <= 0x39 {
                if count < 9 { nanos = nanos * 10 + Int(u[i] - 0x30) }
                count += 1
                i += 1
            }
            guard count > 0 else { throw fail("empty fraction") }
            for _ in min(count, 9)..<9 { nanos *= 10 }
        }
        guard i < u.count else { throw fail("missing time zone") }
        var offset = 0
        if u[i] == UInt8(ascii: "Z") {
            i += 1
        } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            let sign = u[i] == UInt8(ascii: "-") ? -1 : 1
            let oh = try digits(i + 1, 2)
            try expect(i + 3, ":")
            let om = try digits(i + 4, 2)
            guard oh < 24, om < 60 else { throw fail("time zone offset out of range") }
            offset = sign * (oh * 3600 + om * 60)
            i += 6
        } else {
            throw fail("expected Z or an offset")
        }
        guard i == u.count else { throw fail("extra text after the time zone") }
        guard (1...12).contains(month) else { throw fail("month out of range") }
        guard day >= 1, day <= GoTime.daysIn(month: month, year: year) else { throw fail("day out of range") }
        guard hour < 24, minute < 60, second < 60 else { throw fail("time out of range") }
        let days = GoTime.daysFromCivil(year: year, month: month, day: day)
        let local = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(Instant(secondsSinceEpoch: local - Int64(offset), nanoseconds: Int32(nanos)), utcOffsetSeconds: offset)
    }

    // MARK: Formatting

    /// RFC3339Nano as Go writes it. Throws for years outside 0…9999 (Go's MarshalJSON refuses them too).
    public func format() throws -> String {
        let local = instant.secondsSinceEpoch + Int64(utcOffsetSeconds)
        var days = local / 86_400
        var secondsOfDay = local % 86_400
        if secondsOfDay < 0 { secondsOfDay += 86_400; days -= 1 }
        let (year, month, day) = GoTime.civilFromDays(Int(days))
        guard (0...9999).contains(year) else {
            throw FormatError(input: "\(instant)", reason: "year \(year) outside 0…9999")
        }
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let sod = Int(secondsOfDay)
        var out = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(sod / 3600, 2)):\(pad(sod / 60 % 60, 2)):\(pad(sod % 60, 2))"
        if instant.nanoseconds != 0 {
            var fraction = pad(Int(instant.nanoseconds), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "." + fraction
        }
        if utcOffsetSeconds == 0 {
            out += "Z"
        } else {
            let magnitude = abs(utcOffsetSeconds) / 60
            out += (utcOffsetSeconds < 0 ? "-" : "+") + pad(magnitude / 60, 2) + ":" + pad(magnitude % 60, 2)
        }
        return out
    }

    // MARK: Civil calendar (proleptic Gregorian; H. Hinnant's algorithms)

    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let date = Instant(secondsSinceEpoch: Int64(days) * 86_400).utcDate
        return (date.year, date.month, date.day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

extension GoTime: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .zero  // Go: null leaves the zero time
            return
        }
        let string = try container.decode(String.self)
        do {
            try self.init(parsing: string)
        } catch let error as FormatError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        do {
            try container.encode(format())
        } catch let error as FormatError {
            throw EncodingError.invalidValue(self, .init(codingPath: encoder.codingPath, debugDescription: error.description))
        }
    }
}
