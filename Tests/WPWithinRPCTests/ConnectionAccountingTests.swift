import Testing
import WPWithinRPC

/// The RPC socket's connection slots as a value: the total cap, the per-uid share, and the refusal log's
/// rate limit.
@Suite struct ConnectionAccountingTests {
    @Test func theDefaultShareIsHalfTheTotalAndAtLeastOne() {
        #expect(ConnectionAccounting(maxConnections: 256).maxPerUid == 128)
        #expect(ConnectionAccounting(maxConnections: 7).maxPerUid == 3)
        #expect(ConnectionAccounting(maxConnections: 1).maxPerUid == 1)
        #expect(ConnectionAccounting(maxConnections: 8, maxPerUid: 20).maxPerUid == 8, "never above the total")
        #expect(ConnectionAccounting(maxConnections: 8, maxPerUid: 0).maxPerUid == 1)
    }

    @Test func oneUidGetsItsShareAndNoMoreWhileOthersStillGetIn() {
        var accounting = ConnectionAccounting(maxConnections: 8, maxPerUid: 3)
        for open in 1...3 { #expect(accounting.admit(uid: 1000) == .admitted(open: open)) }
        #expect(accounting.admit(uid: 1000) == .refused(.perUid))
        #expect(accounting.admit(uid: 1000) == .refused(.perUid))
        #expect(accounting.open == 3, "refused connections take no slot")
        #expect(accounting.connections(of: 1000) == 3)
        #expect(accounting.admit(uid: 65534) == .admitted(open: 4))
        #expect(accounting.connections(of: 65534) == 1)
    }

    @Test func theTotalCapsEveryoneAndIsReportedFirst() {
        var accounting = ConnectionAccounting(maxConnections: 4, maxPerUid: 2)
        #expect(accounting.admit(uid: 1) == .admitted(open: 1))
        #expect(accounting.admit(uid: 1) == .admitted(open: 2))
        #expect(accounting.admit(uid: 2) == .admitted(open: 3))
        #expect(accounting.admit(uid: 3) == .admitted(open: 4))
        #expect(accounting.admit(uid: 4) == .refused(.total))
        // uid 1 is over its share too, but a full server says so to everyone.
        #expect(accounting.admit(uid: 1) == .refused(.total))
    }

    @Test func releasingGivesTheSlotBack() {
        var accounting = ConnectionAccounting(maxConnections: 4, maxPerUid: 2)
        _ = accounting.admit(uid: 7)
        _ = accounting.admit(uid: 7)
        #expect(accounting.admit(uid: 7) == .refused(.perUid))
        accounting.release(uid: 7)
        #expect(accounting.open == 1)
        #expect(accounting.connections(of: 7) == 1)
        #expect(accounting.admit(uid: 7) == .admitted(open: 2))
        accounting.release(uid: 7)
        accounting.release(uid: 7)
        #expect(accounting.open == 0)
        #expect(accounting.connections(of: 7) == 0)
        #expect(accounting == ConnectionAccounting(maxConnections: 4, maxPerUid: 2), "back to the empty state")
    }

    @Test func anUnknownPeerCountsOnlyTowardsTheTotal() {
        var accounting = ConnectionAccounting(maxConnections: 3, maxPerUid: 1)
        #expect(accounting.admit(uid: nil) == .admitted(open: 1))
        #expect(accounting.admit(uid: nil) == .admitted(open: 2))
        #expect(accounting.admit(uid: 5) == .admitted(open: 3))
        #expect(accounting.admit(uid: nil) == .refused(.total))
        accounting.release(uid: nil)
        #expect(accounting.admit(uid: 5) == .refused(.perUid))
        #expect(accounting.admit(uid: nil) == .admitted(open: 3))
    }

    @Test func refusalsAreLoggedAtMostOncePerIntervalWithTheCountHeldBack() {
        let second: UInt64 = 1_000_000_000
        var limit = LogRateLimit(intervalNanoseconds: 10 * second)
        #expect(limit.occurrence(now: 100 * second) == 0, "the first is logged")
        #expect(limit.occurrence(now: 101 * second) == nil)
        #expect(limit.occurrence(now: 109 * second) == nil)
        #expect(limit.occurrence(now: 110 * second) == 2, "one interval later: logged, with the two held back")
        #expect(limit.occurrence(now: 115 * second) == nil)
        #expect(limit.occurrence(now: 500 * second) == 1)
        #expect(limit.occurrence(now: 501 * second) == nil)
    }
}
