import Foundation
import Testing
import WPWithinCore
@testable import WPWithinWire

@Suite struct GoTimeTests {
    @Test(arguments: [
        ("2026-11-25T03:09:20.386060323Z", Int64(1_795_576_160), Int32(386_060_323), 0),
        ("2017-09-01T10:00:00.123456+01:00", 1_504_256_400, 123_456_000, 3600),
        ("2017-09-01T04:30:00-05:30", 1_504_260_000, 0, -19_800),
        ("2000-02-29T00:00:00.5Z", 951_782_400, 500_000_000, 0),
        ("1969-12-31T23:59:59.999999999Z", -1, 999_999_999, 0),
        ("0001-01-01T00:00:00Z", -62_135_596_800, 0, 0),
        ("9999-12-31T23:59:59Z", 253_402_300_799, 0, 0),
    ])
    func parsesAndFormatsLikeGo(text: String, seconds: Int64, nanos: Int32, offset: Int) throws {
        let time = try GoTime(parsing: text)
        #expect(time.instant == Instant(secondsSinceEpoch: seconds, nanoseconds: nanos))
        #expect(time.utcOffsetSeconds == offset)
        #expect(try time.format() == text)
    }

    @Test func fractionsAreTrimmedAndNormalised() throws {
        #expect(try GoTime(parsing: "2017-09-01T10:00:00.120000000Z").format() == "2017-09-01T10:00:00.12Z")
        #expect(try GoTime(parsing: "2017-09-01T10:00:00.000Z").format() == "2017-09-01T10:00:00Z")
        #expect(try GoTime(parsing: "2017-09-01T10:00:00,5Z").format() == "2017-09-01T10:00:00.5Z")
        // Go drops digits after the ninth.
        #expect(try GoTime(parsing: "2017-09-01T10:00:00.1234567899Z").instant.nanoseconds == 123_456_789)
        #expect(try GoTime(parsing: "2017-09-01T10:00:00-00:00").format() == "2017-09-01T10:00:00Z")
    }

    @Test func sameInstantDifferentOffsets() throws {
        let utc = try GoTime(parsing: "2017-09-01T09:00:00Z")
        let bst = try GoTime(parsing: "2017-09-01T10:00:00+01:00")
        let ist = try GoTime(parsing: "2017-09-01T14:30:00+05:30")
        #expect(utc.instant == bst.instant && bst.instant == ist.instant)
        #expect(utc != bst)  // the offset is kept for echoing
        #expect(!(utc < bst) && !(bst < utc))
        #expect(try GoTime(bst.instant, utcOffsetSeconds: -19_800).format() == "2017-09-01T03:30:00-05:30")
    }

    @Test(arguments: [
        "", "2017-09-01", "2017-09-01T10:00:00", "2017-09-01t10:00:00Z", "2017-09-01 10:00:00Z",
        "2017-09-01T10:00:00z", "2017-9-01T10:00:00Z", "2017-09-01T10:00:00.Z", "2017-09-01T10:00:00+1:00",
        "2017-09-01T10:00:00+0100", "2017-09-01T10:00:00+24:00", "2017-09-01T10:00:00+01:60", "2017-02-30T10:00:00Z",
        "2100-02-29T00:00:00Z", "2017-13-01T10:00:00Z", "2017-00-01T10:00:00Z", "2017-09-00T10:00:00Z",
        "2017-09-01T24:00:00Z", "2017-09-01T10:60:00Z", "2017-09-01T10:00:60Z", "2017-09-01T10:00:00Z ",
        "2017-09-01T10:00:00ZZ", "+2017-09-01T10:00:00Z", "2017-09-01T10:00:00.1a2Z",
    ])
    func rejectsWhatGoRejects(text: String) {
        #expect(throws: GoTime.FormatError.self) { try GoTime(parsing: text) }
    }

    @Test func outOfRangeYearsDoNotFormat() {
        #expect(throws: GoTime.FormatError.self) { try GoTime(Instant(secondsSinceEpoch: 253_402_300_800)).format() }
        #expect(throws: GoTime.FormatError.self) { try GoTime(Instant(secondsSinceEpoch: -62_135_596_800 - 366 * 86_400 - 1)).format() }
    }

    @Test func zeroTime() throws {
        #expect(try GoTime.zero.format() == "0001-01-01T00:00:00Z")
        #expect(GoTime.zero.isZero)
    }

    /// Property: format ∘ parse is the identity on random instants and offsets, and agrees with Foundation.
    @Test func randomRoundTrips() throws {
        var rng = SplitMix64(seed: 0x5EED)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for _ in 0..<2000 {
            let seconds = Int64(rng.next() % 253_402_300_800) - (rng.next() % 2 == 0 ? 0 : 62_135_596_800)
            let nanos = Int32(rng.next() % 1_000_000_000) / (rng.next() % 3 == 0 ? 1000 : 1) * (rng.next() % 5 == 0 ? 0 : 1)
            let offset = (Int(rng.next() % 49) - 24) * 1800
            let time = GoTime(Instant(secondsSinceEpoch: seconds, nanoseconds: nanos), utcOffsetSeconds: offset)
            guard let text = try? time.format() else { continue }  // years outside 0…9999 after the offset
            let back = try GoTime(parsing: text)
            #expect(back == time, "\(text)")
            if seconds > -2_000_000_000, offset == 0, nanos == 0 {
                #expect(formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) == text)
            }
        }
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
