/// Who holds the RPC socket's connection slots: at most `maxConnections` in all, and at most `maxPerUid`
/// for any one peer uid (SO_PEERCRED), so that one local client cannot take every slot.
///
/// A value: the server keeps it behind its lock and applies ``admit(uid:)`` as a connection is accepted and
/// ``release(uid:)`` when an admitted one closes. Refused connections never count.
public struct ConnectionAccounting: Sendable, Equatable {
    /// Why a connection was refused.
    public enum Refusal: Sendable, Equatable {
        /// `maxConnections` are open.
        case total
        /// The peer's uid holds its share (`maxPerUid`) already.
        case perUid
    }

    public enum Decision: Sendable, Equatable {
        /// Admitted; `open` connections are open now (this one included).
        case admitted(open: Int)
        case refused(Refusal)
    }

    public let maxConnections: Int
    public let maxPerUid: Int
    /// Admitted connections open now.
    public private(set) var open = 0
    private var byUid: [UInt32: Int] = [:]

    /// - Parameter maxPerUid: nil is the default share, half of `maxConnections` (at least 1).
    public init(maxConnections: Int, maxPerUid: Int? = nil) {
        precondition(maxConnections >= 1)
        self.maxConnections = maxConnections
        self.maxPerUid = min(maxConnections, max(1, maxPerUid ?? Self.defaultShare(of: maxConnections)))
    }

    /// The default per-uid share: half of the total, at least one.
    public static func defaultShare(of maxConnections: Int) -> Int { max(1, maxConnections / 2) }

    /// Connections `uid` holds now.
    public func connections(of uid: UInt32) -> Int { byUid[uid] ?? 0 }

    /// Takes a slot for a new connection from `uid` (nil: the peer is unknown, only the total applies).
    /// The total is checked first: a full server answers `.total` whoever asks.
    public mutating func admit(uid: UInt32?) -> Decision {
        guard open < maxConnections else { return .refused(.total) }
        if let uid {
            let held = byUid[uid] ?? 0
            guard held < maxPerUid else { return .refused(.perUid) }
            byUid[uid] = held + 1
        }
        open += 1
        return .admitted(open: open)
    }

    /// Gives back the slot of an admitted connection that closed.
    public mutating func release(uid: UInt32?) {
        precondition(open > 0, "release without admit")
        open -= 1
        if let uid {
            let held = byUid[uid] ?? 0
            precondition(held > 0, "release without admit for uid \(uid)")
            byUid[uid] = held == 1 ? nil : held - 1
        }
    }
}

/// Lets a recurring log line through at most once per interval and counts what it held back.
public struct LogRateLimit: Sendable, Equatable {
    public let intervalNanoseconds: UInt64
    private var lastLogged: UInt64?
    private var held = 0

    public init(intervalNanoseconds: UInt64) {
        self.intervalNanoseconds = intervalNanoseconds
    }

    /// One occurrence at `now` (a monotonic clock in nanoseconds). Returns the number of occurrences held
    /// back since the last line when this one is to be logged, nil when it is to be held back.
    public mutating func occurrence(now: UInt64) -> Int? {
        if let lastLogged, now &- lastLogged < intervalNanoseconds {
            held += 1
            return nil
        }
        lastLogged = now
        defer { held = 0 }
        return held
    }
}
