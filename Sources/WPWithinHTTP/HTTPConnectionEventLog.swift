/// Sums up refused, dropped and timed-out connections per interval, so that a flood costs one warning per
/// interval instead of a line per connection. A value: the owner records events, starts a timer when
/// ``record(_:peer:)`` says a window opened, and logs what ``flush()`` returns when it fires.
struct HTTPConnectionEventLog: Sendable {
    enum Event: Sendable, Hashable {
        case refused(HTTPConnectionLimiter.Cap)
        case dropped
        case headerTimeout
        case bodyTimeout
        /// accept(2) failed (EMFILE, ENFILE, ENOBUFS, …).
        case acceptError
    }

    /// What happened in one window.
    struct Summary: Sendable, Hashable {
        var refusedTotalCap = 0
        var refusedPeerCap = 0
        var dropped = 0
        var headerTimeouts = 0
        var bodyTimeouts = 0
        var acceptErrors = 0
        /// The peer with the most events in the window (nil when none had an address).
        var topPeer: String?
        var topPeerEvents = 0

        var refused: Int { refusedTotalCap + refusedPeerCap }
        var events: Int { refused + dropped + headerTimeouts + bodyTimeouts + acceptErrors }
    }

    /// Peers counted one by one in a window; events of further peers still count, but not per peer, so a
    /// flood from many addresses cannot grow this.
    static let trackedPeers = 64

    private var window: Summary?
    private var perPeer: [String: Int] = [:]

    /// Counts one event. Returns true when it opened a window (the caller starts the interval timer).
    mutating func record(_ event: Event, peer: String?) -> Bool {
        let opened = window == nil
        var summary = window ?? Summary()
        switch event {
        case .refused(.total): summary.refusedTotalCap += 1
        case .refused(.perPeer): summary.refusedPeerCap += 1
        case .dropped: summary.dropped += 1
        case .headerTimeout: summary.headerTimeouts += 1
        case .bodyTimeout: summary.bodyTimeouts += 1
        case .acceptError: summary.acceptErrors += 1
        }
        if let peer, perPeer[peer] != nil || perPeer.count < Self.trackedPeers {
            let count = perPeer[peer, default: 0] + 1
            perPeer[peer] = count
            if count > summary.topPeerEvents {
                summary.topPeer = peer
                summary.topPeerEvents = count
            }
        }
        window = summary
        return opened
    }

    /// Closes the window: its summary, or nil when nothing happened.
    mutating func flush() -> Summary? {
        defer {
            window = nil
            perPeer = [:]
        }
        return window
    }
}
