#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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
/// commit order; a transaction that changes money or units appends its events in the same commit and hands
/// them to `EventBus.deliverCommitted` after the commit.
public protocol EventJournal: Sendable {
    /// Appends one event in its own transaction and returns it with its seq.
    func append(type: String, payload: [String: JSONValue]) async throws -> RPCEvent
    /// Committed events with seq greater than `seq`, oldest first, at most `limit`.
    func events(after seq: Int64, limit: Int) async throws -> [RPCEvent]
    /// Deletes events with a seq at or below `seq` (they are older than what `resumeFrom` promises).
    func prune(through seq: Int64) async throws
}

/// Assigns sequence numbers, journals events and fans them out to subscribers.
///
/// Without a journal, seqs are counted in memory and `resumeFrom` works within one run. With one, every
/// event is stored first and delivered in seq order, so `resumeFrom` also works across restarts.
///
/// A subscriber that falls more than `bufferLimit` events behind is dropped (its stream finishes with
/// `overflowed == true`); it can resubscribe with `resumeFrom`.
public actor EventBus {
    private let observer: (@Sendable (RPCEvent) -> Void)?
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
    /// How many of the newest events stay in memory: all `capacity` without a journal; with one, a small
    /// window (older resumes read the journal), so memory does not grow with the journal.
    private let memoryWindow: Int
    /// The newest delivered events (at most `memoryWindow + memoryWindow / 4`), for `resumeFrom` without a read.
    private var recent: [RPCEvent] = []
    private let durable: (any EventJournal)?
    /// Committed events that arrived ahead of a smaller seq.
    private var pending: [Int64: RPCEvent] = [:]
    private var seq: Int64
    /// The smallest seq still stored (durable) or kept (memory); older ones are gone.
    private var oldestKept: Int64
    private var deliveredSincePrune = 0
    private var nextID: SubscriptionID = 1
    private var subscribers: [SubscriptionID: Subscriber] = [:]
    private var overflowed: Set<SubscriptionID> = []

    /// - Parameters:
    ///   - capacity: how many recent events are kept for `resumeFrom` (in memory, and in the journal).
    ///   - bufferLimit: how far a subscriber may fall behind before it is dropped.
    ///   - startSeq: the last seq already used (the journal's newest seq at start-up).
    ///   - oldestSeq: the journal's oldest stored seq at start-up (0 when empty).
    ///   - journal: durable storage; when given, seqs come from it and `resumeFrom` survives restarts.
    ///   - observer: sees every event once, in seq order, as it is delivered (metrics).
    public init(
        capacity: Int = 10_000, bufferLimit: Int = 1024, startSeq: Int64 = 0, oldestSeq: Int64 = 0,
        journal: (any EventJournal)? = nil, observer: (@Sendable (RPCEvent) -> Void)? = nil
    ) {
        self.observer = observer
        self.capacity = max(1, capacity)
        self.memoryWindow = journal == nil ? max(1, capacity) : min(max(1, capacity), 256)
        self.bufferLimit = max(1, bufferLimit)
        self.durable = journal
        self.seq = max(0, startSeq)
        self.oldestKept = journal == nil ? startSeq + 1 : (oldestSeq > 0 ? oldestSeq : startSeq + 1)
    }

    public var currentSeq: Int64 { seq }

    /// Publishes an event: it gets the next seq, is journalled, then delivered.
    @discardableResult
    public func publish(_ type: String, _ payload: [String: JSONValue] = [:]) async throws -> RPCEvent {
        guard let durable else {
            let event = RPCEvent(seq: seq + 1, type: type, time: Self.now(), payload: payload)
            deliver(event)
            return event
        }
        let event = try await durable.append(type: type, payload: payload)
        await deliverCommitted([event])
        return event
    }

    /// Delivers events that a transaction has committed to the journal, in seq order. An event that
    /// arrives ahead of a smaller seq means the smaller one is committed too (the journal has one writer):
    /// it is read from the journal, so nothing waits on a caller that never delivers.
    public func deliverCommitted(_ events: [RPCEvent]) async {
        for event in events where event.seq > seq { pending[event.seq] = event }
        while let lowest = pending.keys.min() {
            if lowest <= seq {
                pending[lowest] = nil
                continue
            }
            if lowest == seq + 1 {
                deliver(pending.removeValue(forKey: lowest)!)
                continue
            }
            // A gap: fill it from the journal, then deliver what is there in order, even across a real
            // hole (an event that was pruned or never existed).
            if let durable, let stored = try? await durable.events(after: seq, limit: 1000) {
                for event in stored where event.seq > seq && pending[event.seq] == nil { pending[event.seq] = event }
            }
            guard let next = pending.keys.min(), next > seq else { continue }
            deliver(pending.removeValue(forKey: next)!)
        }
        await pruneIfDue()
    }

    private func deliver(_ event: RPCEvent) {
        seq = event.seq
        observer?(event)
        recent.append(event)
        if recent.count > memoryWindow + memoryWindow / 4 { recent.removeFirst(recent.count - memoryWindow) }
        deliveredSincePrune += 1
        for (id, subscriber) in subscribers {
            if let types = subscriber.types, !types.contains(event.type) { continue }
            yield(event, to: id, subscriber)
        }
    }

    /// Keeps the journal near `capacity` events: prunes every `capacity / 4` deliveries.
    private func pruneIfDue() async {
        guard let durable, deliveredSincePrune >= max(1, capacity / 4) else { return }
        deliveredSincePrune = 0
        let through = seq - Int64(capacity)
        guard through >= oldestKept else { return }
        do {
            try await durable.prune(through: through)
            oldestKept = max(oldestKept, through + 1)
        } catch {
            // Pruning is housekeeping: the next attempt retries.
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
    public func subscribe(types: Set<String>?, resumeFrom: Int64?) async -> Subscription {
        var replay: [RPCEvent] = []
        var truncated = false
        if let resumeFrom, resumeFrom < seq {
            // The promise is the newest `capacity` events; anything older may be gone.
            let floor = max(resumeFrom, seq - Int64(capacity))
            if floor + 1 < (recent.first?.seq ?? (seq + 1)), let durable {
                // Older than the memory window (e.g. after a restart): read the journal.
                let stored = (try? await durable.events(after: floor, limit: capacity)) ?? []
                // Events delivered while reading are in `recent`: the journal only up to there.
                let memoryStart = recent.first?.seq ?? (seq + 1)
                replay = stored.filter { $0.seq < memoryStart }
                let end = replay.last?.seq ?? floor
                replay += recent.filter { $0.seq > end }
            } else {
                replay = recent.filter { $0.seq > floor }
            }
            truncated = (replay.first?.seq ?? (seq + 1)) > resumeFrom + 1
            if let types { replay = replay.filter { types.contains($0.type) } }
        }
        let id = nextID
        nextID += 1
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

    /// The wall-clock time as RFC 3339 with milliseconds (events of a bus without a journal; the journal
    /// stamps its own).
    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(secondsSinceEpoch: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec)).rfc3339Milliseconds
    }
}
