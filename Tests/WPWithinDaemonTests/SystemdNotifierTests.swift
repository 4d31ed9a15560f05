import NIOPosix
import Synchronization
import Testing
@testable import WPWithinDaemon

/// The notification queue as a value, and the notifier with a `send` that blocks as sd_notify does when
/// the service manager's socket is full.
@Suite struct SystemdNotifierTests {
    @Test func messagesLeaveInOrderAndAWaitingWatchdogPingIsNotQueuedTwice() {
        var queue = NotificationQueue()
        var startsADrain: [Bool] = []
        var sent: [String?] = []
        startsADrain.append(queue.enqueue("READY=1"))  // starts the drain
        startsADrain.append(queue.enqueue("WATCHDOG=1"))  // the drain is running: queued only
        startsADrain.append(queue.enqueue("WATCHDOG=1"))  // one is already waiting: dropped
        startsADrain.append(queue.enqueue("STATUS=x"))
        #expect(queue.count == 3)
        sent.append(queue.next())
        sent.append(queue.next())
        startsADrain.append(queue.enqueue("WATCHDOG=1"))  // the waiting one has left: a new ping waits again
        sent.append(queue.next())
        sent.append(queue.next())
        sent.append(queue.next())  // nil: the drain ends
        startsADrain.append(queue.enqueue("STOPPING=1"))  // and the next message starts a new one
        sent.append(queue.next())
        sent.append(queue.next())
        #expect(startsADrain == [true, false, false, false, false, true])
        #expect(sent == ["READY=1", "WATCHDOG=1", "STATUS=x", "WATCHDOG=1", nil, "STOPPING=1", nil])
    }

    @Test func aSendThatBlocksNeverBlocksTheCaller() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let sent = Mutex<[String]>([])
        let gate = Mutex(true)  // true: send blocks (the service manager is not reading)
        let notifier = SystemdNotifier(enabled: true, pool: pool) { state in
            while gate.withLock({ $0 }) { usleep(1000) }
            sent.withLock { $0.append(state) }
        }
        notifier.ready(status: "up")
        for _ in 0..<1000 { notifier.watchdog() }  // each returns at once although nothing is sent
        notifier.stopping(status: "down")
        #expect(sent.withLock { $0.isEmpty })
        gate.withLock { $0 = false }
        while sent.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(sent.withLock { $0 } == ["READY=1\nSTATUS=up", "WATCHDOG=1", "STOPPING=1\nSTATUS=down"])
        try await pool.shutdownGracefully()
    }

    /// Before the process exits, what is queued leaves (STOPPING=1 was lost when the daemon exited before
    /// the pool's thread ran); a reader that never drains holds the exit only for the limit.
    @Test func finishWaitsForWhatIsQueuedButNotForever() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let sent = Mutex<[String]>([])
        let gate = Mutex(true)
        let notifier = SystemdNotifier(enabled: true, pool: pool) { state in
            while gate.withLock({ $0 }) { usleep(1000) }
            sent.withLock { $0.append(state) }
        }
        notifier.stopping(status: "down")
        notifier.finish(within: .milliseconds(20))  // the reader is stuck: returns anyway
        #expect(sent.withLock { $0.isEmpty })
        gate.withLock { $0 = false }
        notifier.finish(within: .seconds(60))
        #expect(sent.withLock { $0 } == ["STOPPING=1\nSTATUS=down"])
        try await pool.shutdownGracefully()
    }

    @Test func disabledWithoutANotifySocket() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let sent = Mutex(0)
        let notifier = SystemdNotifier(enabled: false, pool: pool) { _ in sent.withLock { $0 += 1 } }
        notifier.ready(status: "up")
        try await pool.shutdownGracefully()
        #expect(sent.withLock { $0 } == 0)
    }
}
