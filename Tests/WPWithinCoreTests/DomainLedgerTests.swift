import Testing
import WPWithinCore

private func code(_ body: () throws -> Any) -> WPWError.Code? {
    do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
}

@Suite struct DomainLedgerTests {
    @Test func beginClampsToWhatRemains() throws {
        let ledger = try UnitLedger(purchased: 10)
        let (a, granted) = try ledger.begin(requested: 25)
        #expect(granted == 10 && a.inFlight == 10 && a.remaining == 0)
        #expect(throws: WPWError(.insufficientUnits, "Too many units requested", data: ["remaining": 0, "ledger": a.json])) { try a.begin(requested: 1) }
        let (b, g2) = try ledger.begin(requested: 3)
        #expect(g2 == 3 && b.remaining == 7)
    }

    @Test func refusals() throws {
        let ledger = try UnitLedger(purchased: 10)
        #expect(code { try UnitLedger(purchased: 0) } == .invalidParams)
        #expect(code { try UnitLedger(purchased: -1) } == .invalidParams)
        #expect(code { try ledger.begin(requested: 0) } == .invalidParams)
        #expect(code { try ledger.begin(requested: -5) } == .invalidParams)
        #expect(code { try ledger.end(reported: 1) } == .conflict)  // end without begin
        let (begun, _) = try ledger.begin(requested: 2)
        #expect(code { try begun.end(reported: -1) } == .invalidParams)
        #expect(code { try begun.release(units: 3) } == .conflict)
        #expect(code { try UnitLedger(purchased: 5, delivered: 4, inFlight: 2) } == .conflict)
        #expect(code { try UnitLedger(purchased: 5, delivered: -1, inFlight: 0) } == .conflict)
        #expect(try UnitLedger(purchased: 5, delivered: 3, inFlight: 2).remaining == 0)
    }

    @Test func endingMoreThanWasBegunIsRefusedAndAReplayRestoresNothing() throws {
        let (begun, _) = try UnitLedger(purchased: 10).begin(requested: 4)
        #expect(code { try begun.end(reported: 9) } == .invalidParams)  // over-end: refused, nothing changes
        #expect(begun.inFlight == 4 && begun.delivered == 0)
        let (ended, committed) = try begun.end(reported: 4)
        #expect(committed == 4 && ended.delivered == 4 && ended.inFlight == 0 && ended.remaining == 6)
        #expect(code { try ended.end(reported: 4) } == .conflict)  // replay
        #expect(ended.remaining == 6)
    }

    @Test func goWorkedExampleWithWorkingCounters() throws {
        // PROTOCOL.md §5: begin(10), end(10) → 0 left; then begin is refused instead of re-granting 10.
        let (a, g) = try UnitLedger(purchased: 10).begin(requested: 10)
        #expect(g == 10)
        let (b, c) = try a.end(reported: 10)
        #expect(c == 10 && b.undelivered == 0)
        #expect(code { try b.begin(requested: 10) } == .insufficientUnits)
        // Partial delivery: end(3) leaves 7, as Go reports; a second end(3) is refused, not "7 again".
        let (d, _) = try UnitLedger(purchased: 10).begin(requested: 10)
        let (e, _) = try d.end(reported: 3)
        #expect(e.undelivered == 7 && e.remaining == 7)
        #expect(code { try e.end(reported: 3) } == .conflict)
    }

    @Test func commitUnreportedPolicy() throws {
        let (begun, _) = try UnitLedger(purchased: 10).begin(requested: 6)
        let (ended, committed) = try begun.end(reported: 1, policy: .commitUnreported)
        #expect(committed == 6 && ended.delivered == 6 && ended.remaining == 4)
    }

    /// Property: random begin/end/release sequences keep every invariant; failed steps change nothing.
    @Test func randomSequencesNeverGoNegativeOrRestoreUnits() throws {
        let rng = SeededBytes(seed: 2024)
        for _ in 0..<500 {
            let purchased = Int(rng.next() % 20) + 1
            var ledger = try UnitLedger(purchased: purchased)
            for _ in 0..<60 {
                let before = ledger
                let amount = Int(rng.next() % 30) - 5
                do {
                    switch rng.next() % 5 {
                    case 0, 1:
                        let (next, granted) = try ledger.begin(requested: amount)
                        #expect(granted > 0 && granted <= amount && granted <= before.remaining)
                        #expect(next.inFlight == before.inFlight + granted)
                        ledger = next
                    case 2, 3:
                        let policy: UnitLedger.EndPolicy = rng.next() % 2 == 0 ? .releaseUnreported : .commitUnreported
                        let (next, committed) = try ledger.end(reported: amount, policy: policy)
                        #expect(committed >= 0 && committed <= before.inFlight)
                        #expect(next.delivered == before.delivered + committed)
                        ledger = next
                    default:
                        ledger = try ledger.release(units: amount)
                    }
                } catch let error as WPWError {
                    #expect([.invalidParams, .insufficientUnits, .conflict].contains(error.code))
                    #expect(ledger == before)
                }
                #expect(ledger.remaining >= 0 && ledger.inFlight >= 0)
                #expect(ledger.delivered + ledger.inFlight <= ledger.purchased)
                #expect(ledger.delivered >= before.delivered, "a delivered unit was restored")
                #expect(ledger.purchased == purchased)
            }
        }
    }
}
