import Foundation
import WPWithinCore

/// One event of the daemon's stream.
public struct RPCEvent: Sendable, Hashable {
    public var seq: Int64
    public var type: String
    public var time: String
    public var payload: [String: JSONValue]

    public init(seq: Int64, type: String, time: String, payload: [String: JSONValue]) {
        self.seq = seq
        self.type = type
        self.time = time
        self.payload = payload
    }

    /// The notification's `params`: the payload plus `seq`, `type` and `time`.
    public var params: JSONValue {
        var object = payload
        object["seq"] = .int(seq)
        object["type"] = .string(type)
        object["time"] = .string(time)
        return .object(object)
    }
}

/// Durable storage of events (the daemon's database). Sequence numbers are assigned by the journal, in
/// commit order; a transaction that changes money or units appends its events in the same commit.
public protocol EventJournal: Sendable {
    /// Appends one event outside any other transaction and returns it with its seq.
    func append(type: String, time: String, payload: [String: JSONValue]) throws -> RPCEvent
    /// Committed events with seq greater than `seq`, oldest first, at most `limit`.
    func events(after seq: Int64, limit: Int) throws -> [RPCEvent]
    /// The highest committed seq, or 0.
    func lastSeq() throws -> Int64
}

/// Assigns sequence numbers, journals events and fans them out to subscribers.
///
/// A subscriber that falls more than `bufferLimit` events behind is dropped (its stream finishes with
/// `overflowed == true`); it can resubscribe with `resumeFrom`.
public actor EventBus {
    public typealias SubscriptionID = UInt64

    public struct Subscription: Sendable {
        public let id: SubscriptionID
        public let events: AsyncStream<RPCEvent>
        /// The seq of the newest event when the subscription started.
        public let lastSeq: Int64
        /// How many stored events are replayed before live ones.
        public let replayed: Int
        /// True when `resumeFrom` was older than the oldest stored event: some events are gone.
        public let truncated: Bool
    }

    private struct Subscriber {
        var types: Set<String>?
        var continuation: AsyncStream<RPCEvent>.Continuation
    }

    private let bufferLimit: Int
    private let capacity: Int
    private var journal: [RPCEvent] = []
    private let durable: (any EventJournal)?
    /// Events committed by other transactions that arrived ahead of a smaller seq.
    private var pending: [Int64: RPCEvent] = [:]
    private var seq: Int64
    private var nextID: SubscriptionID = 1
    private var subscribers: [SubscriptionID: Subscriber] = [:]
    private var overflowed: Set<SubscriptionID> = []

    /// - Parameters:
    ///   - capacity: how many recent events are kept for `resumeFrom`.
    ///   - bufferLimit: how far a subscriber may fall behind before it is dropped.
    ///   - startSeq: the seq to continue from (the last one already used).
    ///   - journal: durable storage; when given, seqs come from it and `resumeFrom` survives restarts.
    public init(capacity: Int = 10_000, bufferLimit: Int = 1024, startSeq: Int64 = 0, journal: (any EventJournal)? = nil) {
        self.capacity = max(1, capacity)
        self.bufferLimit = max(1, bufferLimit)
        self.durable = journal
        self.seq = max(startSeq, (try? journal?.lastSeq()) ?? 0)
    }

    public var currentSeq: Int64 { seq }

    /// Publishes an event: it gets the next seq, is kept in the journal, then delivered, all at once.
    @discardableResult
    public func publish(_ type: String, _ payload: [String: JSONValue] = [:]) throws -> RPCEvent {
        guard let durable else {
            let event = RPCEvent(seq: seq + 1, type: type, time: Self.now(), payload: payload)
            deliver(event)
            return event
        }
        let event = try durable.append(type: type, time: Self.now(), payload: payload)
        deliverCommitted([event])
        return event
    }

    /// Delivers events that a transaction has committed to the journal, in seq order: an event that
    /// arrives ahead of a smaller committed seq waits, and a gap is filled from the journal.
    public func deliverCommitted(_ events: [RPCEvent]) {
        for event in events where event.seq > seq { pending[event.seq] = event }
        while !pending.isEmpty {
            if let next = pending.removeValue(forKey: seq + 1) {
                deliver(next)
                continue
            }
            // A later seq is committed, so the missing ones are too (the journal has one writer).
            guard let durable, let missing = try? durable.events(after: seq, limit: 1000), !missing.isEmpty else { break }
            for event in missing where pending[event.seq] == nil { pending[event.seq] = event }
        }
    }

    private func deliver(_ event: RPCEvent) {
        seq = event.seq
        journal.append(event)
        if journal.count > capacity + capacity / 4 { journal.removeFirst(journal.count - capacity) }
        for (id, subscriber) in subscribers {
            if let types = subscriber.types, !types.contains(event.type) { continue }
            yield(event, to: id, subscriber)
        }
    }

    private func yield(_ event: RPCEvent, to id: SubscriptionID, _ subscriber: Subscriber) {
        switch subscriber.continuation.yield(event) {
        case .enqueued:
            break
        case .dropped, .terminated:
            overflowed.insert(id)
            subscribers[id] = nil
            subscriber.continuation.finish()
        @unknown default:
            break
        }
    }

    /// Starts a subscription. With `resumeFrom`, kept events with a greater seq come first, then live ones.
    public func subscribe(types: Set<String>?, resumeFrom: Int64?) -> Subscription {
        let id = nextID
        nextID += 1
        var replay: [RPCEvent] = []
        var truncated = false
        if let resumeFrom, resumeFrom < seq {
            let oldest = journal.first?.seq ?? (seq + 1)
            if resumeFrom + 1 < oldest, let durable, let stored = try? durable.events(after: resumeFrom, limit: capacity) {
                // Older than the memory window: read the durable journal (bounded by `capacity`).
                replay = stored.filter { $0.seq <= seq }
                truncated = (replay.last?.seq ?? seq) < (oldest - 1)
                replay += journal.filter { $0.seq > (replay.last?.seq ?? resumeFrom) }
            } else {
                truncated = resumeFrom + 1 < oldest
                replay = journal.filter { $0.seq > resumeFrom }
            }
            if let types { replay = replay.filter { types.contains($0.type) } }
        }
        let (stream, continuation) = AsyncStream<RPCEvent>.makeStream(
            bufferingPolicy: .bufferingOldest(bufferLimit + replay.count)
        )
        let subscriber = Subscriber(types: types, continuation: continuation)
        subscribers[id] = subscriber
        for event in replay { yield(event, to: id, subscriber) }
        continuation.onTermination = { [weak self] _ in
            Task { await self?.remove(id) }
        }
        return Subscription(id: id, events: stream, lastSeq: seq, replayed: replay.count, truncated: truncated)
    }

    /// True (once) when the subscription was dropped because its client fell behind.
    public func didOverflow(_ id: SubscriptionID) -> Bool {
        overflowed.remove(id) != nil
    }

    public func unsubscribe(_ id: SubscriptionID) {
        subscribers.removeValue(forKey: id)?.continuation.finish()
    }

    private func remove(_ id: SubscriptionID) {
        subscribers[id] = nil
    }

    /// Ends every subscription (shutdown).
    public func finishAll() {
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers.removeAll()
    }

    public var subscriberCount: Int { subscribers.count }

    static func now() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
