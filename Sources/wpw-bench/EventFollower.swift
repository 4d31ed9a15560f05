#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A subscriber to every event of one daemon, reading them as they come, as a real app (a car wash's
/// controller, a dashboard) follows its daemon: the daemons then pay for building and sending each event,
/// as they do in use. Runs on a thread of its own with a blocking socket and only counts the lines (the
/// benchmark's own CPU is not what is measured).
final class EventFollower: @unchecked Sendable {
    // @unchecked: `lines` and `ended` are behind `lock`; `fd` is set once.
    private let lock = NSLock()
    private var lines = 0
    private var ended = false
    private let fd: Int32
    private let finished = DispatchSemaphore(value: 0)

    init(socket path: String, name: String) throws {
        fd = try connectUnixSocket(path)
        try sendAll(fd, Array(#"{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{}}"#.utf8) + [0x0A])
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { break }
                var newlines = 0
                for byte in chunk[..<n] where byte == 0x0A { newlines += 1 }
                lock.withLock { lines += newlines }
            }
            lock.withLock { ended = true }
            finished.signal()
        }
        thread.name = "event-follower-\(name)"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Event notifications received so far (every line but the subscribe reply).
    var events: Int { lock.withLock { max(0, lines - 1) } }
    /// True when the daemon closed the subscription (it drops a subscriber that falls too far behind).
    var endedEarly: Bool { lock.withLock { ended } }

    /// Stops following (before the daemon is stopped).
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        finished.wait()
        close(fd)
    }
}
