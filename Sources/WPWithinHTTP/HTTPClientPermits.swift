/// How many requests of an ``HTTPClient`` may hold a connection to one host at a time, and who waits for
/// one: a value-type state machine (the client keeps it under its lock and does the I/O it asks for).
///
/// A request takes a permit before it reuses or opens a connection and gives it back when it is done with
/// the connection. While every permit of a host is taken, new requests wait in arrival order; a permit
/// given back goes straight to the first waiter (the count does not drop), so a burst of requests never
/// opens more than `limit` connections to one host. A producer caps the connections it accepts from one
/// peer (`producer.hte.maxConnectionsPerPeer`, 16): a consumer whose client opened one connection per
/// concurrent call was answered 503 under load.
struct HTTPClientPermits {
    /// Permits per host, at least 1.
    let limit: Int
    /// Permits taken per host (requests holding or opening a connection).
    private(set) var taken: [String: Int] = [:]
    /// Waiting requests per host, oldest first.
    private(set) var waiting: [String: [UInt64]] = [:]

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// A request for `key`: true when it has a permit now; false when it was queued as `waiter`.
    mutating func acquire(_ key: String, waiter: UInt64) -> Bool {
        let count = taken[key, default: 0]
        if count < limit && waiting[key, default: []].isEmpty {
            taken[key] = count + 1
            return true
        }
        waiting[key, default: []].append(waiter)
        return false
    }

    /// A request for `key` is done with its connection. Returns the waiter that now holds the permit, if
    /// any (resume it); otherwise the permit is free again.
    mutating func release(_ key: String) -> UInt64? {
        if var queue = waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[key] = queue.isEmpty ? nil : queue
            return next
        }
        let count = taken[key, default: 0] - 1
        taken[key] = count > 0 ? count : nil
        return nil
    }

    /// A waiter gives up (its deadline passed, its task was cancelled). True when it was still waiting
    /// (it holds nothing); false when it already got a permit (it must release it).
    mutating func abandon(_ key: String, waiter: UInt64) -> Bool {
        guard var queue = waiting[key], let index = queue.firstIndex(of: waiter) else { return false }
        queue.remove(at: index)
        waiting[key] = queue.isEmpty ? nil : queue
        return true
    }

    /// Every waiter, removed (the client shuts down).
    mutating func removeAllWaiters() -> [UInt64] {
        let all = waiting.values.flatMap { $0 }
        waiting = [:]
        return all
    }
}
