import Testing
import WPWithinCore
@testable import WPWithinRPC

/// The RPC connection's decisions as a value: the window, back-pressure, and the orders of closing.
@Suite struct RPCConnectionStateMachineTests {
    typealias Machine = RPCConnectionStateMachine<Int>

    /// What `next` yields until it stops: starts, then at most one read or close.
    static func drain(_ machine: inout Machine, writable: Bool = true) -> [String] {
        var actions: [String] = []
        while true {
            switch machine.next(writable: writable) {
            case .start(let n): actions.append("start \(n)")
            case .read: actions.append("read"); return actions
            case .close(let last): actions.append("close \(last.map { "\($0)" } ?? "-")"); return actions
            case .none: return actions
            }
        }
    }

    static func describe(_ action: Machine.Action) -> String {
        switch action {
        case .start(let n): "start \(n)"
        case .read: "read"
        case .close(let last): "close \(last.map { "\($0)" } ?? "-")"
        case .none: "none"
        }
    }

    @Test func theWindowStartsUpToItsSizeThenRequestsWaitInOrder() {
        var m = Machine(maxInFlight: 2)
        #expect(Self.describe(m.received(1, writable: true)) == "start 1")
        #expect(Self.describe(m.received(2, writable: true)) == "start 2")
        #expect(Self.describe(m.received(3, writable: true)) == "none")
        #expect(Self.describe(m.received(4, writable: true)) == "none")
        #expect(m.inFlight == 2 && m.waitingCount == 2)
        // The window is full: the read the channel asks for is held.
        #expect(Self.describe(m.readRequested(writable: true)) == "none")
        m.callFinished()
        #expect(Self.drain(&m) == ["start 3"])
        m.callFinished()
        m.callFinished()
        // The last waiting one starts, then the held read is given back.
        #expect(Self.drain(&m) == ["start 4", "read"])
        #expect(m.inFlight == 1 && m.waitingCount == 0)
        // A request behind others never overtakes them, even with room in the window.
        var n = Machine(maxInFlight: 2)
        _ = n.received(1, writable: false)
        #expect(Self.describe(n.received(2, writable: true)) == "none")
        #expect(Self.drain(&n) == ["start 1", "start 2"])
    }

    @Test func aFullOutboundBufferStopsStartsAndReads() {
        var m = Machine(maxInFlight: 8)
        #expect(Self.describe(m.received(1, writable: false)) == "none")
        #expect(Self.describe(m.readRequested(writable: false)) == "none")
        #expect(Self.drain(&m, writable: false) == [])
        #expect(m.inFlight == 0 && m.waitingCount == 1)
        // Writable again: the waiting request starts and reading resumes.
        #expect(Self.drain(&m, writable: true) == ["start 1", "read"])
        #expect(Self.describe(m.readRequested(writable: true)) == "read")
    }

    @Test func aParseErrorIsAnsweredAfterTheCallsInFlightAndDropsWhatWaits() {
        var m = Machine(maxInFlight: 1)
        _ = m.received(1, writable: true)
        _ = m.received(2, writable: true)
        let parseError: JSONValue = ["error": "parse"]
        #expect(Self.describe(m.closeAfter(parseError)) == "none")  // call 1 still runs
        #expect(Self.describe(m.received(3, writable: true)) == "none")  // nothing more is taken
        m.callFinished()
        #expect(Self.drain(&m) == ["close \(parseError)"])  // 2 was dropped, never started
        #expect(m.isClosed)
        #expect(Self.drain(&m) == [])
    }

    @Test func aSecondReasonToCloseDoesNotReplaceTheFirst() {
        var m = Machine(maxInFlight: 4)
        _ = m.received(1, writable: true)
        #expect(Self.describe(m.closeAfter(nil)) == "none")  // drain (shutdown) while 1 runs
        #expect(Self.describe(m.closeAfter(["error": "too long"])) == "none")  // the later line-too-long
        m.callFinished()
        #expect(Self.drain(&m) == ["close -"])
    }

    @Test func aClosedConnectionWithNothingInFlightClosesAtOnce() {
        var m = Machine(maxInFlight: 4)
        let refusal: JSONValue = ["error": "refused"]
        guard case .close(let last) = m.closeAfter(refusal) else {
            Issue.record("expected a close")
            return
        }
        #expect(last == refusal)
        #expect(m.isClosed)
    }

    @Test func aHalfCloseAnswersEverythingSentThenCloses() {
        var m = Machine(maxInFlight: 1)
        _ = m.received(1, writable: true)
        _ = m.received(2, writable: true)
        #expect(Self.describe(m.inputClosed()) == "none")
        m.callFinished()
        #expect(Self.drain(&m) == ["start 2"])  // waiting requests are still answered, unlike a parse error
        m.callFinished()
        #expect(Self.drain(&m) == ["close -"])
        // With nothing in flight, the half-close closes at once.
        var idle = Machine(maxInFlight: 1)
        #expect(Self.describe(idle.inputClosed()) == "close -")
    }

    @Test func aCallThatFinishesAfterTheChannelWentAwayIsCountedAndNothingStarts() {
        var m = Machine(maxInFlight: 2)
        _ = m.received(1, writable: true)
        _ = m.received(2, writable: false)
        m.channelClosed()
        m.callFinished()
        #expect(m.inFlight == 0)
        #expect(Self.drain(&m) == [])
        #expect(Self.describe(m.received(3, writable: true)) == "none")
    }
}
