#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization
import WPWithinCore
import WPWithinPostgres
import WPWithinStore

/// Copies the other members' events from the fleet's journal (`fleet_event`) into this member's journal and
/// publishes them, so that `subscribe` on any member follows the whole fleet, with `resumeFrom` as on a
/// single Thing (the local seqs). Each copied event carries `member` (the serverId that committed it) and
/// `fleetSeq`; this member's own events are already there (copied after each commit).
///
/// It wakes on the journal channel's notifications (`LISTEN` on a connection of its own, on a thread of its
/// own), and polls every `pollInterval` too, so that a notification lost with a broken connection only
/// delays events. How far it has copied (the cursor) is saved in the same local transaction as the copies:
/// after a crash it resumes exactly there. A member that joins a fleet starts at the journal's end.
public final class FleetJournalFollower: ServiceLifecycle.Service, Sendable {
    static let cursorName = "fleet"
    static let batch = 256

    let store: FleetStore
    let publish: @Sendable ([StoredEvent]) async -> Void
    let pollInterval: Duration
    /// The shortest time between two reads of the journal (a subscriber hears another member's event this
    /// much later at most, beyond the commit).
    let batchDelay: Duration
    let logger: Logger

    public init(
        store: FleetStore, pollInterval: Duration = .seconds(5), batchDelay: Duration = .milliseconds(50),
        publish: @escaping @Sendable ([StoredEvent]) async -> Void, logger: Logger
    ) {
        self.store = store
        self.publish = publish
        self.pollInterval = pollInterval
        self.batchDelay = batchDelay
        self.logger = logger
    }

    public func run() async throws {
        let (wakes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let listener = Listener(connection: store.settings.connection, channel: FleetStore.journalChannel, logger: logger)
        listener.start(wake: { continuation.yield() }, pollInterval: pollInterval)
        defer { listener.stop() }
        var cursor: Int64?
        await withGracefulShutdownHandler {
            continuation.yield()
            for await _ in wakes {
                do {
                    cursor = try await copy(after: cursor)
                } catch {
                    logger.warning("Cannot follow the fleet's journal yet", metadata: [LogKey.error: "\(error)"])
                }
                // Notifications that come meanwhile are one wake (the stream keeps the newest only): under load a
                // member reads the journal every `batchDelay`, not once per transition of every member.
                try? await Task.sleep(for: batchDelay)
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// Copies what is new after `cursor` (loaded, or set to the journal's end, when nil); returns the cursor.
    func copy(after known: Int64?) async throws -> Int64 {
        var cursor: Int64
        if let known {
            cursor = known
        } else if let saved = try await store.local.journalCursor(Self.cursorName) {
            cursor = saved
        } else {
            cursor = try await store.read { db in try db.query("SELECT COALESCE(max(seq), 0) FROM fleet_event").int(0, 0) ?? 0 }
            _ = try await store.local.appendCommittedElsewhere([], cursor: (Self.cursorName, cursor))
            logger.info("Following the fleet's journal from its end", metadata: ["fleet.seq": "\(cursor)"])
        }
        let member = store.serverID
        while true {
            let after = cursor
            let rows = try await store.read { db in
                try FleetRows.each(
                    try db.query(
                        "SELECT seq, member, type, time_s, time_ns, payload FROM fleet_event WHERE seq > $1 ORDER BY seq LIMIT \(Self.batch)",
                        [String(after)])
                ) { row in
                    (seq: try row.int64(0), member: try row.text(1), type: try row.text(2),
                     time: try FleetRows.instant(row.int64(3), row.int64(4)), payload: try row.text(5))
                }
            }
            guard let last = rows.last else { return cursor }
            var events: [(type: String, payload: [String: JSONValue], time: Instant)] = []
            for row in rows where row.member != member {
                var payload = (try? JSONValue.parse(row.payload).objectValue) ?? [:]
                payload["member"] = .string(row.member)
                payload["fleetSeq"] = .int(row.seq)
                events.append((row.type, payload, row.time))
            }
            // A batch of this member's own events only: nothing to copy, and the cursor need not be saved (after
            // a restart those are read again and skipped), so no local commit for each of its own transitions.
            if !events.isEmpty {
                let stored = try await store.local.appendCommittedElsewhere(events, cursor: (Self.cursorName, last.seq))
                await publish(stored)
            }
            cursor = last.seq
            if rows.count < Self.batch { return cursor }
        }
    }

    /// `LISTEN` on a thread of its own: wakes the follower on each notification and every poll interval.
    final class Listener: Sendable {
        private let connection: String
        private let channel: String
        private let logger: Logger
        private let stopped = Atomic<Bool>(false)

        init(connection: String, channel: String, logger: Logger) {
            self.connection = connection
            self.channel = channel
            self.logger = logger
        }

        func start(wake: @escaping @Sendable () -> Void, pollInterval: Duration) {
            let pollMilliseconds = max(100, pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000)
            DispatchQueue(label: "wpwithin.fleet.listen").async { [self] in
                var db: PGConnection?
                var sinceWake: Int64 = 0
                while !stopped.load(ordering: .relaxed) {
                    do {
                        if db == nil {
                            let opened = try PGConnection(connection)
                            try opened.execute("LISTEN \(channel)")
                            db = opened
                            wake()  // anything committed while not listening
                        }
                        // Short waits, so that stop() is noticed within a quarter of a second.
                        let notified = try db?.waitForNotifications(timeoutMilliseconds: 250) ?? []
                        sinceWake += 250
                        if !notified.isEmpty || sinceWake >= pollMilliseconds {
                            sinceWake = 0
                            wake()
                        }
                    } catch {
                        db?.close()
                        db = nil
                        logger.debug("Fleet journal listener reconnecting", metadata: [LogKey.error: "\(error)"])
                        wake()
                        usleep(500_000)
                    }
                }
                db?.close()
            }
        }

        func stop() { stopped.store(true, ordering: .relaxed) }
    }
}
