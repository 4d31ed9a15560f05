import Foundation
import Testing
import WPWithinCore

@Suite struct InstantFormatTests {
    /// The hand-written formatter against Foundation's ISO 8601 style (what events used before).
    @Test func rfc3339MillisecondsMatchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        var instants: [Instant] = [
            Instant(secondsSinceEpoch: 0, nanoseconds: 0),
            Instant(secondsSinceEpoch: 951_782_400, nanoseconds: 999_999_999),  // 2000-02-29
            Instant(secondsSinceEpoch: 4_107_542_399, nanoseconds: 1_000_000),  // 2100-02-28T23:59:59
            Instant(secondsSinceEpoch: 1_798_761_599, nanoseconds: 500_000_000),  // 2026-12-31T23:59:59
        ]
        for _ in 0..<2000 {
            instants.append(Instant(
                secondsSinceEpoch: Int64.random(in: 0...7_258_118_399, using: &generator),
                nanoseconds: Int32.random(in: 0...999_999_999, using: &generator)))
        }
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for instant in instants {
            let millis = Double(instant.nanoseconds / 1_000_000) / 1000
            let date = Date(timeIntervalSince1970: Double(instant.secondsSinceEpoch) + millis + 0.0001)
            #expect(instant.rfc3339Milliseconds == date.formatted(style), "\(instant)")
        }
        #expect(Instant(secondsSinceEpoch: 1_795_588_514, nanoseconds: 123_456_789).rfc3339Milliseconds == "2026-11-25T06:35:14.123Z")
    }
}
