import NIOConcurrencyHelpers
import WPWithinCore

/// The credentials of the process on the other end of a Unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Hashable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// One client connection: identity, its event subscription, and a way to push notifications to it.
public final class RPCConnection: Sendable {
    public let id: UInt64
    public let peer: PeerCredentials?
    private let sendLine: @Sendable (JSONValue) async throws -> Void
    private let state = NIOLockedValueBox(State())

    private struct State {
        var subscription: EventBus.SubscriptionID?
        var forwarder: Task<Void, Never>?
        var closed = false
    }

    public init(id: UInt64, peer: PeerCredentials?, send: @escaping @Sendable (JSONValue) async throws -> Void) {
        self.id = id
        self.peer = peer
        self.sendLine = send
    }

    /// Sends one JSON value as a line (a notification). Errors mean the client is gone.
    public func send(_ value: JSONValue) async throws {
        try await sendLine(value)
    }

    var currentSubscription: EventBus.SubscriptionID? {
        state.withLockedValue { $0.subscription }
    }

    /// Replaces the connection's subscription; returns the previous one so it can be cancelled.
    func setSubscription(_ id: EventBus.SubscriptionID?, forwarder: Task<Void, Never>?) -> (EventBus.SubscriptionID?, Task<Void, Never>?) {
        state.withLockedValue { state in
            let previous = (state.subscription, state.forwarder)
            if state.closed {
                forwarder?.cancel()
                return previous
            }
            state.subscription = id
            state.forwarder = forwarder
            return previous
        }
    }

    /// Marks the connection closed and returns the subscription to tear down.
    func close() -> (EventBus.SubscriptionID?, Task<Void, Never>?) {
        state.withLockedValue { state in
            state.closed = true
            defer {
                state.subscription = nil
                state.forwarder = nil
            }
            return (state.subscription, state.forwarder)
        }
    }
}

/// Actions to run once the reply to one message has been written (or at once when none is due).
public final class ReplyHooks: Sendable {
    private let actions = NIOLockedValueBox<[@Sendable () -> Void]>([])

    public init() {}

    public func add(_ action: @escaping @Sendable () -> Void) {
        actions.withLockedValue { $0.append(action) }
    }

    /// No action was added.
    public var isEmpty: Bool { actions.withLockedValue { $0.isEmpty } }

    public func run() {
        let pending = actions.withLockedValue { actions -> [@Sendable () -> Void] in
            defer { actions.removeAll() }
            return actions
        }
        for action in pending { action() }
    }
}
