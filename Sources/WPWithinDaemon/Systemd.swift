import CSystemd
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Tells the service manager about the daemon's state (sd_notify). Tests inject their own.
public protocol ServiceNotifier: Sendable {
    func notify(_ state: String)
    /// Waits, at most `limit`, until every message queued so far has left (before the process exits).
    func finish(within limit: Duration)
}

extension ServiceNotifier {
    public func finish(within limit: Duration) {}
}

extension ServiceNotifier {
    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ status: String) { notify("STATUS=\(status)") }
    public func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(status)") }
    public func reloading(status: String) { notify("RELOADING=1\nSTATUS=\(status)") }
    public func watchdog() { notify("WATCHDOG=1") }
}

/// sd_notify through libsystemd, sent from a thread of NIO's blocking-I/O pool, never from the caller's;
/// a no-op when NOTIFY_SOCKET is unset.
///
/// sd_notify blocks while the service manager's socket is full (`net.unix.max_dgram_qlen`, 10 datagrams by
/// default). Called on the event loop, a reader that stalled (a busy PID 1, a test that stopped reading)
/// froze the whole daemon: RPC unanswered, SIGTERM never finished. Now the caller only queues the message;
/// messages leave in order, one at a time, and a watchdog ping already waiting is not queued twice.
public final class SystemdNotifier: ServiceNotifier, Sendable {
    private let queue = Mutex(NotificationQueue())
    private let enabled: Bool
    private let pool: NIOThreadPool
    private let send: @Sendable (String) -> Void

    public convenience init() {
        self.init(enabled: getenv("NOTIFY_SOCKET") != nil, pool: .singleton) { _ = sd_notify(0, $0) }
    }

    /// `send` runs on `pool`, one message at a time (tests pass a closure that blocks).
    init(enabled: Bool, pool: NIOThreadPool, send: @escaping @Sendable (String) -> Void) {
        self.enabled = enabled
        self.pool = pool
        self.send = send
    }

    public func notify(_ state: String) {
        guard enabled, queue.withLock({ $0.enqueue(state) }) else { return }
        pool.submit { [self] _ in
            while let next = queue.withLock({ $0.next() }) { send(next) }
        }
    }

    /// Blocks the caller (the process is about to exit) until the queue is empty, or `limit` has passed
    /// (a service manager that does not read its socket cannot hold the exit for longer).
    public func finish(within limit: Duration) {
        let deadline = ContinuousClock.now + limit
        while queue.withLock({ $0.isBusy }), ContinuousClock.now < deadline { usleep(1000) }
    }

    /// The watchdog interval requested by systemd (WATCHDOG_USEC), if any.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }
}

/// The messages waiting for the notification thread, in order, with at most one watchdog ping among them
/// (a second would say nothing the first does not). A value: `SystemdNotifier` keeps it behind a mutex.
struct NotificationQueue {
    static let watchdogPing = "WATCHDOG=1"
    private var pending: [String] = []
    private var head = 0
    private var draining = false

    /// Queues `state`; true when no drain is running and the caller must start one.
    mutating func enqueue(_ state: String) -> Bool {
        if state == Self.watchdogPing, pending[head...].contains(Self.watchdogPing) { return false }
        pending.append(state)
        if draining { return false }
        draining = true
        return true
    }

    /// The next message to send; nil when none is left, which ends the drain.
    mutating func next() -> String? {
        guard head < pending.count else {
            pending.removeAll(keepingCapacity: true)
            head = 0
            draining = false
            return nil
        }
        head += 1
        return pending[head - 1]
    }

    var count: Int { pending.count - head }
    /// A drain is running: a message is waiting or being sent.
    var isBusy: Bool { draining }
}

/// Sockets passed by systemd socket activation (LISTEN_FDS / LISTEN_FDNAMES).
public enum SocketActivation {
    public struct Socket: Sendable, Equatable {
        public var fd: Int32
        public var name: String
    }

    /// Takes the passed sockets and unsets the variables so children do not inherit them.
    public static func take() -> [Socket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        var sockets: [Socket] = []
        for index in 0..<Int(count) {
            var name = "unknown"
            if let names, let cName = names[index] {
                name = String(cString: cName)
                free(cName)
            }
            sockets.append(Socket(fd: SD_LISTEN_FDS_START + Int32(index), name: name))
        }
        free(names)
        return sockets
    }

    /// The RPC socket among the passed ones: the one named `rpc`, else the only stream Unix socket.
    public static func rpcSocket(in sockets: [Socket]) -> Socket? {
        if let named = sockets.first(where: { $0.name == "rpc" }) { return named }
        let unix = sockets.filter { sd_is_socket_unix($0.fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 }
        return unix.count == 1 ? unix[0] : nil
    }
}

/// Pings the systemd watchdog at half the requested interval until shutdown.
struct WatchdogService: Service, CustomStringConvertible {
    var description: String { "WatchdogService" }

    let notifier: any ServiceNotifier
    let interval: Duration
    let logger: Logger

    func run() async throws {
        logger.info("Watchdog enabled", metadata: ["watchdog.interval": "\(interval)"])
        let period = interval / 2
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            notifier.watchdog()
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            } catch {
                break
            }
        }
    }
}
