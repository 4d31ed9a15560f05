import WPWithinCore
import WPWithinSQLite

/// One journal entry. `seq` is strictly increasing and gap-free (the journal is never pruned by the store).
public struct StoredEvent: Sendable, Hashable {
    public let seq: Int64
    public let type: String
    public let time: Instant
    public let payload: [String: JSONValue]
}

/// The event types the store's transitions append.
public enum StoreEventType {
    public static let serviceAdded = "producer.serviceAdded"
    public static let serviceReplaced = "producer.serviceReplaced"
    public static let serviceRemoved = "producer.serviceRemoved"
    public static let quoteCreated = "producer.quoteCreated"
    /// Pending order and stock reservation persisted; the gateway is about to be charged.
    public static let paymentStarted = "producer.paymentStarted"
    public static let paymentSucceeded = "producer.paymentSucceeded"
    public static let paymentFailed = "producer.paymentFailed"
    public static let paymentOutcomeUnknown = "producer.paymentOutcomeUnknown"
    /// Reconciliation took the attempt as never received by the gateway: stock released, reference closed.
    public static let paymentAbandoned = "producer.paymentAbandoned"
    /// A charge of an abandoned attempt turned up; it is refunded next.
    public static let lateChargeFound = "producer.lateChargeFound"
    /// The gateway refunded a charge the producer could not honour.
    public static let refundIssued = "producer.refundIssued"
    /// The producer refunded a purchase's undelivered units (its gateway confirmed it).
    public static let consumerRefundReceived = "consumer.refundReceived"
    /// Units in flight past the delivery lease were settled (released, or committed by policy).
    public static let deliveryLeaseExpired = "producer.deliveryLeaseExpired"
    public static let deliveryBegun = "producer.deliveryBegun"
    public static let deliveryEnded = "producer.deliveryEnded"
    public static let quoteReceived = "consumer.quoteReceived"
    public static let purchaseRecorded = "consumer.purchaseRecorded"
    public static let consumerDeliveryBegun = "consumer.deliveryBegun"
    public static let consumerDeliveryConfirmed = "consumer.deliveryConfirmed"
    public static let consumerDeliveryEnded = "consumer.deliveryEnded"
    /// A delivery call got no answer from the producer; the next call settles it.
    public static let consumerDeliveryUnsettled = "consumer.deliveryUnsettled"
    /// The consumer's record was brought into line with the producer's ledger.
    public static let consumerDeliverySynced = "consumer.deliverySynced"
}

enum EventJournal {
    static func insert(_ db: SQLiteConnection, type: String, payload: [String: JSONValue], time: Instant) throws -> StoredEvent {
        let json = JSONValue.object(payload).jsonString
        try db.run(
            "INSERT INTO event (type, time_s, time_ns, payload_json) VALUES (?, ?, ?, ?)",
            [type, time.secondsSinceEpoch, Int64(time.nanoseconds), json])
        return StoredEvent(seq: db.lastInsertRowID, type: type, time: time, payload: payload)
    }

    /// The columns `decode` reads, by index.
    static let select = "SELECT seq, type, time_s, time_ns, payload_json FROM event"

    static func decode(_ row: SQLiteRow) throws -> StoredEvent {
        let seq = row.int64(0)
        let payload: [String: JSONValue]
        do {
            payload = try JSONValue.parse(row.text(4)).objectValue ?? [:]
        } catch {
            throw WPWError(.internalError, "store: event \(seq) has an unreadable payload")
        }
        return StoredEvent(seq: seq, type: row.text(1), time: try Rows.instant(row.int64(2), row.int64(3), "time"), payload: payload)
    }
}

extension Store {
    /// Appends one event on its own (for events that belong to no store transition, e.g. `daemon.started`).
    @discardableResult
    public func appendEvent(type: String, payload: [String: JSONValue] = [:], now: Instant) async throws -> StoredEvent {
        let committed = try await transaction { tx in try tx.append(type, payload, at: now) }
        return committed.events[0]
    }

    /// Appends events that were committed elsewhere (a fleet's database, the record of the transition) to
    /// this journal, in one transaction without an fsync: the journal is then a copy, and a copy lost in a
    /// power cut costs subscribers a few events, never money.
    ///
    /// `cursor`: how far the source has been copied, saved in the same transaction (``journalCursor(_:)``),
    /// so that a copy interrupted by a crash is redone whole or not at all.
    public func appendCommittedElsewhere(
        _ events: [(type: String, payload: [String: JSONValue], time: Instant)], cursor: (name: String, position: Int64)? = nil
    ) async throws -> [StoredEvent] {
        guard !events.isEmpty || cursor != nil else { return [] }
        return try await transaction(durable: false) { tx in
            for event in events { try tx.append(event.type, event.payload, at: event.time) }
            if let cursor {
                try tx.db.run(
                    "INSERT INTO journal_cursor (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    [cursor.name, cursor.position])
            }
        }.events
    }

    /// The position saved with the latest copy from the journal `name`, nil before the first.
    public func journalCursor(_ name: String) async throws -> Int64? {
        try await read { db in try db.integer("SELECT position FROM journal_cursor WHERE name = ?", [name]) }
    }

    /// Events with `seq > after`, oldest first, at most `limit`.
    public func events(after seq: Int64, limit: Int = 1000) async throws -> [StoredEvent] {
        try await read { db in
            try db.query(EventJournal.select + " WHERE seq > ? ORDER BY seq LIMIT ?", [seq, max(0, limit)], EventJournal.decode)
        }
    }

    /// The newest seq, 0 when the journal is empty.
    public func lastSeq() async throws -> Int64 {
        try await read { db in try db.integer("SELECT COALESCE(MAX(seq), 0) FROM event") ?? 0 }
    }
}

extension Store {
    /// The oldest stored seq, 0 when the journal is empty.
    public func oldestSeq() async throws -> Int64 {
        try await read { db in try db.integer("SELECT COALESCE(MIN(seq), 0) FROM event") ?? 0 }
    }

    /// Deletes journal events with `seq <= through`, never the newest one: a seq is `MAX(seq) + 1`, so the
    /// newest row is what keeps later seqs from reusing pruned ones.
    public func pruneEvents(through seq: Int64) async throws {
        _ = try await transaction(durable: false) { tx in
            try tx.db.run("DELETE FROM event WHERE seq <= ? AND seq < (SELECT MAX(seq) FROM event)", [seq])
        }
    }
}

extension Store {
    /// Two subqueries, not `SELECT MIN(seq), MAX(seq) FROM event`: SQLite answers a lone MIN or MAX from the
    /// rowid b-tree's ends, but both in one SELECT read every row (the whole journal, at every start).
    static let journalBoundsSQL = "SELECT COALESCE((SELECT MIN(seq) FROM event), 0), COALESCE((SELECT MAX(seq) FROM event), 0)"

    /// The oldest and newest stored seq (0, 0 when empty). Blocking: for start-up.
    public func journalBounds() throws -> (oldest: Int64, last: Int64) {
        try Store.mapErrors {
            try database.withConnection { db in
                try db.queryOne(Self.journalBoundsSQL) { ($0.int64(0), $0.int64(1)) }
                    ?? (0, 0)
            }
        }
    }
}
