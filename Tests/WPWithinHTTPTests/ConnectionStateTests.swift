import NIOCore
import Testing
@testable import WPWithinHTTP

/// The value types behind the HTTP server's limits: the connection caps, the per-interval event summary and
/// a connection's request deadlines.
@Suite struct HTTPConnectionLimiterTests {
    static let limits = HTTPConnectionLimiter.Limits(maxConnections: 4, maxConnectionsPerPeer: 2, maxPendingRefusals: 2)

    @Test func servesUpToThePerPeerAndTotalCaps() {
        var limiter = HTTPConnectionLimiter(limits: Self.limits)
        #expect(limiter.admit(peer: "a") == .accepted)
        #expect(limiter.admit(peer: "a") == .accepted)
        #expect(limiter.admit(peer: "a") == .refused(.perPeer))
        #expect(limiter.admit(peer: "b") == .accepted)
        #expect(limiter.admit(peer: "c") == .accepted)
        #expect(limiter.open == 4)
        // Full: a new peer hits the total cap; refusal slots are used up, so the next is dropped.
        #expect(limiter.admit(peer: "d") == .refused(.total))
        #expect(limiter.refusing == 2)
        #expect(limiter.admit(peer: "e") == .dropped(.total))
        #expect(limiter.admit(peer: "a") == .dropped(.total))
        #expect(limiter.open == 4)
        #expect(limiter.open(peer: "a") == 2)
    }

    @Test func closingGivesSlotsBack() {
        var limiter = HTTPConnectionLimiter(limits: Self.limits)
        #expect(limiter.admit(peer: "a") == .accepted)
        #expect(limiter.admit(peer: "a") == .accepted)
        let refused = limiter.admit(peer: "a")
        #expect(refused == .refused(.perPeer))
        _ = limiter.closed(peer: "a", admission: .accepted)
        _ = limiter.closed(peer: "a", admission: refused)
        #expect(limiter.open(peer: "a") == 1)
        #expect(limiter.refusing == 0)
        #expect(limiter.admit(peer: "a") == .accepted)
        _ = limiter.closed(peer: "a", admission: .accepted)
        _ = limiter.closed(peer: "a", admission: .accepted)
        // A peer with nothing open is forgotten: the table is bounded by the open connections.
        #expect(limiter.open(peer: "a") == 0)
        #expect(limiter.peers == 0)
        #expect(limiter.open == 0)
        // A dropped connection held nothing.
        #expect(limiter.closed(peer: "x", admission: .dropped(.total)) == false)
        #expect(limiter.open == 0)
    }

    @Test func aBurstEndsOnceWhenTheConnectionsFallBack() {
        var limiter = HTTPConnectionLimiter(limits: .init(maxConnections: 200, maxConnectionsPerPeer: 200, maxPendingRefusals: 10))
        // Below the burst size nothing is ever reported.
        for _ in 0..<(HTTPConnectionLimiter.burstSize - 1) { _ = limiter.admit(peer: "a") }
        var ends = 0
        for _ in 0..<(HTTPConnectionLimiter.burstSize - 1) where limiter.closed(peer: "a", admission: .accepted) { ends += 1 }
        #expect(ends == 0)
        // A burst: reported once, when the open connections fall to the quiet size.
        for _ in 0..<100 { _ = limiter.admit(peer: "a") }
        var reportedAt: [Int] = []
        for _ in 0..<100 where limiter.closed(peer: "a", admission: .accepted) { reportedAt.append(limiter.open) }
        #expect(reportedAt == [HTTPConnectionLimiter.quietSize])
    }

    @Test func manyRefusalsCountAsABurstToo() {
        var limiter = HTTPConnectionLimiter(limits: .init(maxConnections: 1, maxConnectionsPerPeer: 1, maxPendingRefusals: 1))
        #expect(limiter.admit(peer: "a") == .accepted)
        var ended = false
        for _ in 0..<HTTPConnectionLimiter.burstSize {
            let admission = limiter.admit(peer: "a")
            #expect(admission != .accepted)
            if limiter.closed(peer: "a", admission: admission) { ended = true }
        }
        #expect(ended)
    }
}

@Suite struct HTTPConnectionEventLogTests {
    @Test func oneWindowPerIntervalWithItsCounts() {
        var log = HTTPConnectionEventLog()
        #expect(log.flush() == nil)
        #expect(log.record(.refused(.perPeer), peer: "10.0.0.9") == true)
        for _ in 0..<99 { #expect(log.record(.refused(.perPeer), peer: "10.0.0.9") == false) }
        #expect(log.record(.refused(.total), peer: "10.0.0.7") == false)
        #expect(log.record(.dropped, peer: "10.0.0.7") == false)
        #expect(log.record(.headerTimeout, peer: "10.0.0.8") == false)
        #expect(log.record(.bodyTimeout, peer: "10.0.0.8") == false)
        #expect(log.record(.acceptError, peer: nil) == false)
        let summary = log.flush()
        #expect(summary?.refusedPeerCap == 100)
        #expect(summary?.refusedTotalCap == 1)
        #expect(summary?.refused == 101)
        #expect(summary?.dropped == 1)
        #expect(summary?.headerTimeouts == 1)
        #expect(summary?.bodyTimeouts == 1)
        #expect(summary?.acceptErrors == 1)
        #expect(summary?.events == 105)
        #expect(summary?.topPeer == "10.0.0.9")
        #expect(summary?.topPeerEvents == 100)
        // The window is closed: nothing to log until the next event, which opens a new one.
        #expect(log.flush() == nil)
        #expect(log.record(.dropped, peer: "10.0.0.7") == true)
        #expect(log.flush()?.topPeerEvents == 1)
    }

    @Test func peersCountedOneByOneAreBounded() {
        var log = HTTPConnectionEventLog()
        for index in 0..<1000 { _ = log.record(.refused(.total), peer: "10.0.\(index / 256).\(index % 256)") }
        // The heavy hitter arrives after the table is full: its events count, not as the top peer.
        for _ in 0..<5 { _ = log.record(.refused(.total), peer: "10.9.9.9") }
        // A tracked peer keeps counting.
        for _ in 0..<3 { _ = log.record(.refused(.total), peer: "10.0.0.1") }
        let summary = log.flush()
        #expect(summary?.refused == 1008)
        #expect(summary?.topPeer == "10.0.0.1")
        #expect(summary?.topPeerEvents == 4)
    }
}

@Suite struct HTTPRequestDeadlinesTests {
    static let timeouts = HTTPRequestDeadlines.Timeouts(header: .seconds(10), body: .seconds(20), idle: .seconds(60))

    /// The timer an action arms (fails the test when it arms none).
    func armed(_ action: HTTPRequestDeadlines.Action, _ reason: HTTPRequestDeadlines.Reason, after: TimeAmount,
               sourceLocation: SourceLocation = #_sourceLocation) -> HTTPRequestDeadlines.Timer? {
        guard case .arm(let timer, let delay) = action else {
            Issue.record("expected a \(reason) timer, got \(action)", sourceLocation: sourceLocation)
            return nil
        }
        #expect(timer.reason == reason, sourceLocation: sourceLocation)
        #expect(delay == after, sourceLocation: sourceLocation)
        return timer
    }

    @Test func aTrickledHeadDoesNotMoveItsDeadline() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        let header = try #require(armed(deadlines.opened(), .header, after: .seconds(10)))
        for _ in 0..<100 { #expect(deadlines.bytesReceived() == .none) }
        #expect(deadlines.phase == .head(started: true))
        #expect(deadlines.expired(header) == .answerAndClose(.header))
        #expect(deadlines.phase == .closed)
        // Closed: nothing re-arms.
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.headReceived() == .none)
    }

    @Test func aConnectionThatSendsNothingIsClosedWithoutAnAnswer() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        let header = try #require(armed(deadlines.opened(), .header, after: .seconds(10)))
        #expect(deadlines.expired(header) == .close(reportAs: .header))
    }

    @Test func aSlowBodyGetsTheBodyDeadline() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        let header = try #require(armed(deadlines.opened(), .header, after: .seconds(10)))
        _ = deadlines.bytesReceived()
        let body = try #require(armed(deadlines.headReceived(), .body, after: .seconds(20)))
        // The header timer was replaced: its expiry is stale.
        #expect(deadlines.expired(header) == .ignore)
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.expired(body) == .answerAndClose(.body))
    }

    @Test func noTimerWhileHandlingThenIdleUntilTheNextRequest() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        _ = deadlines.opened()
        _ = deadlines.bytesReceived()
        let body = try #require(armed(deadlines.headReceived(), .body, after: .seconds(20)))
        #expect(deadlines.requestReceived() == .disarm)
        #expect(deadlines.phase == .handling)
        #expect(deadlines.expired(body) == .ignore)
        // Pipelined bytes while the handler works change nothing.
        #expect(deadlines.bytesReceived() == .none)
        let idle = try #require(armed(deadlines.responseEnded(), .idle, after: .seconds(60)))
        #expect(deadlines.phase == .idle)
        // The next request's first byte starts its header deadline.
        let header = try #require(armed(deadlines.bytesReceived(), .header, after: .seconds(10)))
        #expect(deadlines.expired(idle) == .ignore)
        #expect(deadlines.bytesReceived() == .none)
        #expect(deadlines.expired(header) == .answerAndClose(.header))
    }

    @Test func anIdleKeepAliveConnectionIsClosedSilently() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        _ = deadlines.opened()
        _ = deadlines.headReceived()
        _ = deadlines.requestReceived()
        let idle = try #require(armed(deadlines.responseEnded(), .idle, after: .seconds(60)))
        #expect(deadlines.expired(idle) == .close(reportAs: nil))
    }

    @Test func withoutAnIdleTimeoutAKeepAliveConnectionWaits() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: .init(header: .seconds(1), body: .seconds(1), idle: nil))
        _ = deadlines.opened()
        _ = deadlines.headReceived()
        #expect(deadlines.requestReceived() == .disarm)
        #expect(deadlines.responseEnded() == .none)
        #expect(deadlines.phase == .idle)
    }

    @Test func aPipelinedHeadDeliveredWithTheResponseEndStartsItsBody() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        _ = deadlines.opened()
        _ = deadlines.headReceived()
        _ = deadlines.requestReceived()
        _ = deadlines.responseEnded()
        _ = try #require(armed(deadlines.headReceived(), .body, after: .seconds(20)))
        #expect(deadlines.phase == .body)
        // A response end outside of handling (e.g. an early 413) does not reset the phase.
        #expect(deadlines.responseEnded() == .none)
        #expect(deadlines.phase == .body)
    }

    @Test func closingDisarms() throws {
        var deadlines = HTTPRequestDeadlines(timeouts: Self.timeouts)
        let header = try #require(armed(deadlines.opened(), .header, after: .seconds(10)))
        #expect(deadlines.closing() == .disarm)
        #expect(deadlines.expired(header) == .ignore)
        #expect(deadlines.closing() == .none)
    }
}
