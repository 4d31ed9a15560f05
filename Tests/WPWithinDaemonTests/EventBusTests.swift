import Foundation
import Testing
import WPWithinCore
import WPWithinRPC

/// The bus over a journal: seq order whatever order commits are handed over in, gap filling, resume and
/// pruning. In memory (the journal here is an actor standing in for the store's table).
@Suite struct EventBusTests {
    actor MemoryJournal: EventJournal {
        var stored: [RPCEvent] = []
        var nextSeq: Int64 = 1
        var prunedThrough: Int64 = 0

        func append(type: String, payload: [String: JSONValue]) async throws -> RPCEvent {
            commit(type)
        }

        /// What a store transaction does: commit an event without telling the bus.
        @discardableResult
        func commit(_ type: String) -> RPCEvent {
            let event = RPCEvent(seq: nextSeq, type: type, time: "t", payload: [:])
            nextSeq += 1
            stored.append(event)
            return event
        }

        func events(after seq: Int64, limit: Int) async throws -> [RPCEvent] {
            Array(stored.filter { $0.seq > seq }.prefix(limit))
        }

        func prune(through seq: Int64) async throws {
            stored.removeAll { $0.seq <= seq }
            prunedThrough = seq
        }
    }

    @Test func committedEventsHandedOverOutOfOrderAreDeliveredInSeqOrder() async throws {
        let journal = MemoryJournal()
        let bus = EventBus(journal: journal)
        let subscription = await bus.subscribe(types: nil, resumeFrom: nil)
        let a = await journal.commit("a")
        let b = await journal.commit("b")
        let c = await journal.commit("c")
        await bus.deliverCommitted([c])  // b and a are committed but not handed over yet: read from the journal
        await bus.deliverCommitted([a])  // late: already delivered, not again
        await bus.deliverCommitted([b])
        var seen: [Int64] = []
        for await event in subscription.events {
            seen.append(event.seq)
            if seen.count == 3 { break }
        }
        #expect(seen == [a.seq, b.seq, c.seq])
        #expect(await bus.currentSeq == 3)
    }

    @Test func publishJournalsFirstAndResumeReadsTheJournalAfterARestart() async throws {
        let journal = MemoryJournal()
        do {
            let bus = EventBus(journal: journal)
            for type in ["x", "y", "z"] { try await bus.publish(type) }
        }
        // A new bus over the same journal (a restart): seqs continue, resume replays from storage.
        let bus = EventBus(startSeq: 3, oldestSeq: 1, journal: journal)
        let next = try await bus.publish("w")
        #expect(next.seq == 4)
        let resumed = await bus.subscribe(types: nil, resumeFrom: 1)
        #expect(resumed.replayed == 3)
        #expect(!resumed.truncated)
        var types: [String] = []
        for await event in resumed.events {
            types.append(event.type)
            if types.count == 3 { break }
        }
        #expect(types == ["y", "z", "w"])
    }

    @Test func theJournalIsPrunedToItsCapacityAndOlderResumesSayTruncated() async throws {
        let journal = MemoryJournal()
        let bus = EventBus(capacity: 8, journal: journal)
        for index in 0..<40 { try await bus.publish("e\(index)") }
        let kept = await journal.stored.count
        #expect(kept >= 8 && kept <= 10)
        let resumed = await bus.subscribe(types: nil, resumeFrom: 1)
        #expect(resumed.truncated)
        #expect(resumed.replayed == 8)
        let recent = await bus.subscribe(types: nil, resumeFrom: 35)
        #expect(!recent.truncated)
        #expect(recent.replayed == 5)
    }

    @Test func withoutAJournalSeqsAreCountedInMemory() async throws {
        let bus = EventBus()
        let first = try await bus.publish("a")
        let second = try await bus.publish("b")
        #expect([first.seq, second.seq] == [1, 2])
        #expect(await bus.subscribe(types: ["b"], resumeFrom: 0).replayed == 1)
    }
}
