import CSystemd
import Foundation
import Logging
import ServiceLifecycle

/// Tells the service manager about the daemon's state (sd_notify). Tests inject their own.
public protocol ServiceNotifier: Sendable {
    func notify(_ state: String)
}

extension ServiceNotifier {
    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ status: String) { notify("STATUS=\(status)") }
    public func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(status)") }
    public func reloading(status: String) { notify("RELOADING=1\nSTATUS=\(status)") }
    public func watchdog() { notify("WATCHDOG=1") }
}

/// sd_notify through libsystemd; a no-op when NOTIFY_SOCKET is unset.
public struct SystemdNotifier: ServiceNotifier {
    public init() {}

    public func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// The watchdog interval requested by systemd (WATCHDOG_USEC), if any.
    public static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }
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
