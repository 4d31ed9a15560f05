#if canImport(Glibc)
import Glibc
#endif
import Logging

/// At start-up: do the connection caps fit under the soft `RLIMIT_NOFILE`? If not, raise the soft limit to
/// the hard one (what systemd advises for programs that do not use `select()`); if even that is short, warn
/// with the numbers. Either way the caps stay as configured: the warning tells the operator which to lower.
enum FileDescriptorBudget {
    /// Descriptors besides connections: stdio, the database (+ WAL, shm), the listeners, discovery sockets,
    /// the event loops' epoll/eventfd/timerfd, connections to the gateway and to other producers.
    static let margin = 64

    /// Descriptors the caps can take: every HTE connection served or being refused, every RPC connection.
    static func needed(hteConnections: Int, rpcConnections: Int) -> Int {
        hteConnections + rpcConnections + margin
    }

    enum Plan: Equatable {
        /// The soft limit already holds the caps.
        case fits
        /// Raise the soft limit to the hard limit, which holds the caps.
        case raise(to: UInt64)
        /// Even the hard limit is short: raise to it (when higher) and warn.
        case short(raiseTo: UInt64?)
    }

    static func plan(needed: Int, soft: UInt64, hard: UInt64) -> Plan {
        let needed = UInt64(max(0, needed))
        if soft >= needed { return .fits }
        if hard >= needed { return .raise(to: hard) }
        return .short(raiseTo: hard > soft ? hard : nil)
    }

    /// Checks (and raises) the limit of this process; logs what it did.
    static func check(hteConnections: Int, rpcConnections: Int, logger: Logger) {
        #if canImport(Glibc)
        let needed = needed(hteConnections: hteConnections, rpcConnections: rpcConnections)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        // RLIM_INFINITY (all ones) cannot be set for descriptors (the kernel caps them at fs.nr_open): ask for what is needed.
        let hard = limit.rlim_max == rlim_t.max ? max(UInt64(needed), UInt64(limit.rlim_cur)) : UInt64(limit.rlim_max)
        let metadata: Logger.Metadata = [
            "fd.needed": "\(needed)", "fd.soft": "\(limit.rlim_cur)", "fd.hard": "\(limit.rlim_max)",
            "hte.max_connections": "\(hteConnections)", "rpc.max_connections": "\(rpcConnections)", "fd.margin": "\(margin)",
        ]
        func raise(to value: UInt64) -> Bool {
            var raised = limit
            raised.rlim_cur = rlim_t(value)
            return setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0
        }
        switch plan(needed: needed, soft: UInt64(limit.rlim_cur), hard: hard) {
        case .fits:
            logger.debug("File descriptor limit holds the connection caps", metadata: metadata)
        case .raise(let value):
            if raise(to: value) {
                logger.info("Raised the file descriptor limit to hold the connection caps", metadata: metadata.merging(["fd.soft.new": "\(value)"]) { $1 })
            } else {
                logger.warning("The file descriptor limit is below what the connection caps need", metadata: metadata)
            }
        case .short(let value):
            if let value { _ = raise(to: value) }
            logger.warning("The file descriptor limit is below what the connection caps need", metadata: metadata)
        }
        #endif
    }
}
