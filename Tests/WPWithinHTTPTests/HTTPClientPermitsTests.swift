import Testing
@testable import WPWithinHTTP

/// The client's per-host permits as a value: who gets a connection, who waits, in which order.
@Suite struct HTTPClientPermitsTests {
    @Test func permitsUpToTheLimitThenWaitersInArrivalOrder() {
        var permits = HTTPClientPermits(limit: 2)
        let r7 = permits.acquire("a:1", waiter: 1)
        #expect(r7)
        let r9 = permits.acquire("a:1", waiter: 2)
        #expect(r9)
        let r11 = permits.acquire("a:1", waiter: 3)
        #expect(!r11)
        let r13 = permits.acquire("a:1", waiter: 4)
        #expect(!r13)
        // Another host has its own permits.
        let r16 = permits.acquire("b:1", waiter: 5)
        #expect(r16)
        #expect(permits.taken == ["a:1": 2, "b:1": 1])
        // A released permit goes to the oldest waiter; the count stays at the limit.
        let r20 = permits.release("a:1")
        #expect(r20 == 3)
        #expect(permits.taken["a:1"] == 2)
        let r23 = permits.release("a:1")
        #expect(r23 == 4)
        let r25 = permits.release("a:1")
        #expect(r25 == nil)
        let r27 = permits.release("a:1")
        #expect(r27 == nil)
        #expect(permits.taken["a:1"] == nil)
        #expect(permits.waiting.isEmpty)
    }

    @Test func aNewcomerNeverOvertakesAWaiter() {
        var permits = HTTPClientPermits(limit: 1)
        let r35 = permits.acquire("h", waiter: 1)
        #expect(r35)
        let r37 = permits.acquire("h", waiter: 2)
        #expect(!r37)
        // Even at the instant a permit is free, waiter 2 gets it before newcomer 3 is considered.
        let r40 = permits.release("h")
        #expect(r40 == 2)
        let r42 = permits.acquire("h", waiter: 3)
        #expect(!r42)
        #expect(permits.waiting["h"] == [3])
    }

    @Test func anAbandonedWaiterHoldsNothingAndAGrantedOneMustRelease() {
        var permits = HTTPClientPermits(limit: 1)
        let r49 = permits.acquire("h", waiter: 1)
        #expect(r49)
        let r51 = permits.acquire("h", waiter: 2)
        #expect(!r51)
        let r53 = permits.acquire("h", waiter: 3)
        #expect(!r53)
        let r55 = permits.abandon("h", waiter: 2)  // its deadline passed while waiting
        #expect(r55)
        let r57 = permits.release("h")
        #expect(r57 == 3)
        let r59 = permits.abandon("h", waiter: 3)  // already granted: it releases when done
        #expect(!r59)
        let r61 = permits.release("h")
        #expect(r61 == nil)
        #expect(permits.taken.isEmpty && permits.waiting.isEmpty)
    }

    @Test func shutdownTakesEveryWaiterAndTheLimitIsAtLeastOne() {
        var permits = HTTPClientPermits(limit: 0)
        #expect(permits.limit == 1)
        let r69 = permits.acquire("h", waiter: 1)
        #expect(r69)
        let r71 = permits.acquire("h", waiter: 2)
        #expect(!r71)
        let r73 = permits.acquire("k", waiter: 3)
        #expect(r73)
        let r75 = permits.removeAllWaiters()
        #expect(Set(r75) == [2])
        #expect(permits.waiting.isEmpty)
    }
}
