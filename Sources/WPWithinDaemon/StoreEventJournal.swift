import WPWithinCore
import WPWithinRPC
import WPWithinStore

/// The event bus's durable journal: the store's `event` table. Store transitions append their events in the
/// same commit as the money or unit change; other events (`daemon.started`, `consumer.deviceDiscovered`)
/// get a transaction of their own through `append`.
struct StoreEventJournal: EventJournal {
    let store: Store

    func append(type: String, payload: [String: JSONValue]) async throws -> RPCEvent {
        RPCEvent(try await store.appendEvent(type: type, payload: payload, now: nowInstant()))
    }

    func events(after seq: Int64, limit: Int) async throws -> [RPCEvent] {
        try await store.events(after: seq, limit: limit).map(RPCEvent.init)
    }

    func prune(through seq: Int64) async throws {
        try await store.pruneEvents(through: seq)
    }
}

extension RPCEvent {
    init(_ stored: StoredEvent) {
        self.init(seq: stored.seq, type: stored.type, time: stored.time.rfc3339Milliseconds, payload: stored.payload)
    }
}

