/// Which accepted connections an ``HTTPServer`` serves: a total cap, a cap per peer address, and a cap on
/// refusals being answered at once. A value; the server channel's handler owns one on its event loop.
///
/// Every connection ``admit(peer:)`` accepted or refused must be given back to ``closed(peer:admission:)``
/// exactly once when it closes (a dropped one holds nothing and is not given back).
struct HTTPConnectionLimiter: Sendable {
    struct Limits: Sendable, Hashable {
        var maxConnections: Int
        var maxConnectionsPerPeer: Int
        var maxPendingRefusals: Int
    }

    /// Which cap a refused connection hit.
    enum Cap: Sendable, Hashable {
        case total
        case perPeer
    }

    enum Admission: Sendable, Hashable {
        /// Served.
        case accepted
        /// Answered 503, then closed.
        case refused(Cap)
        /// Closed at once without an answer: over a cap while too many refusals are being answered.
        case dropped(Cap)
    }

    /// After a burst (this many connections open at once, or this many refused, since the last trim) …
    static let burstSize = 64
    /// … freed memory is handed back once the open connections fall to this many.
    static let quietSize = 8

    let limits: Limits
    private(set) var open = 0
    private(set) var refusing = 0
    private var perPeer: [String: Int] = [:]
    private var peakSinceTrim = 0
    private var refusedSinceTrim = 0

    init(limits: Limits) {
        self.limits = limits
    }

    /// Open connections of one peer.
    func open(peer: String) -> Int { perPeer[peer] ?? 0 }

    /// Peers with at least one open connection.
    var peers: Int { perPeer.count }

    mutating func admit(peer: String) -> Admission {
        let cap: Cap
        if open >= limits.maxConnections {
            cap = .total
        } else if perPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {
            cap = .perPeer
        } else {
            open += 1
            perPeer[peer, default: 0] += 1
            peakSinceTrim = max(peakSinceTrim, open)
            return .accepted
        }
        refusedSinceTrim += 1
        guard refusing < limits.maxPendingRefusals else { return .dropped(cap) }
        refusing += 1
        return .refused(cap)
    }

    /// Gives a connection back. Returns true when a burst has just ended (see ``burstSize``): the moment to
    /// hand freed memory back to the system.
    mutating func closed(peer: String, admission: Admission) -> Bool {
        switch admission {
        case .accepted:
            precondition(open > 0, "more connections closed than accepted")
            open -= 1
            if let count = perPeer[peer], count > 1 {
                perPeer[peer] = count - 1
            } else {
                perPeer[peer] = nil
            }
        case .refused:
            precondition(refusing > 0, "more refusals closed than made")
            refusing -= 1
        case .dropped:
            return false
        }
        let burst = peakSinceTrim >= Self.burstSize || refusedSinceTrim >= Self.burstSize
        guard burst, open <= Self.quietSize, refusing == 0 else { return false }
        peakSinceTrim = open
        refusedSinceTrim = 0
        return true
    }
}
