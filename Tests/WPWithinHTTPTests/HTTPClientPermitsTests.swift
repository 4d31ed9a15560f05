import Testing
@testable import WPWithinHTTP

/// The client's per-host permits as a value: who gets a connection, who waits, in which order.
@Suite struct HTTPClientPermitsTests {
    /// The value under test, held in a box so that each step reads as one expectation.
    final class Permits {
        var value: HTTPClientPermits
        init(limit: Int) { value = HTTPClientPermits(limit: limit) }
        func acquire(_ key: String, _ waiter: UInt64) -> Bool { value.acquire(key, waiter: waiter) }
        func release(_ key: String) -> UInt64? { value.release(key) }
        func abandon(_ key: String, _ waiter: UInt64) -> Bool { value.abandon(key, waiter: waiter) }
        func removeAllWaiters() -> [UInt64] { value.removeAllWaiters() }
    }

    @Test func permitsUpToTheLimitThenWaitersInArrivalOrder() {
        let p = Permits(limit: 2)
        #expect(p.acquire("a:1", 1))
        #expect(p.acquire("a:1", 2))
        #expect(!p.acquire("a:1", 3))
        #expect(!p.acquire("a:1", 4))
        // Another host has its own permits.
        #expect(p.acquire("b:1", 5))
        #expect(p.value.taken == ["a:1": 2, "b:1": 1])
        // A released permit goes to the oldest waiter; the count stays at the limit.
        #expect(p.release("a:1") == 3)
        #expect(p.value.taken["a:1"] == 2)
        #expect(p.release("a:1") == 4)
        #expect(p.release("a:1") == nil)
        #expect(p.release("a:1") == nil)
        #expect(p.value.taken["a:1"] == nil)
        #expect(p.value.waiting.isEmpty)
    }

    @Test func aNewcomerNeverOvertakesAWaiter() {
        let p = Permits(limit: 1)
        #expect(p.acquire("h", 1))
        #expect(!p.acquire("h", 2))
        // Even at the instant a permit is free, waiter 2 gets it before newcomer 3 is considered.
        #expect(p.release("h") == 2)
        #expect(!p.acquire("h", 3))
        #expect(p.value.waiting["h"] == [3])
    }

    @Test func anAbandonedWaiterHoldsNothingAndAGrantedOneMustRelease() {
        let p = Permits(limit: 1)
        #expect(p.acquire("h", 1))
        #expect(!p.acquire("h", 2))
        #expect(!p.acquire("h", 3))
        #expect(p.abandon("h", 2))  // its deadline passed while waiting
        #expect(p.release("h") == 3)
        #expect(!p.abandon("h", 3))  // already granted: it releases when done
        #expect(p.release("h") == nil)
        #expect(p.value.taken.isEmpty && p.value.waiting.isEmpty)
    }

    @Test func shutdownTakesEveryWaiterAndTheLimitIsAtLeastOne() {
        let p = Permits(limit: 0)
        #expect(p.value.limit == 1)
        #expect(p.acquire("h", 1))
        #expect(!p.acquire("h", 2))
        #expect(p.acquire("k", 3))
        #expect(p.removeAllWaiters() == [2])
        #expect(p.value.waiting.isEmpty)
    }
}
