import Dispatch
import Synchronization
import WPWithinCore
import WPWithinSQLite

/// Group commit: transitions submitted while the writer is busy are run together in one SQLite transaction,
/// each inside its own savepoint, and made durable by one commit (one fsync of the WAL).
///
/// Semantics are those of one transaction per transition, in submission order:
/// * each body sees the effects of the bodies before it (same connection);
/// * a body that throws rolls back only its own savepoint and gets its own error;
/// * nobody is answered before the commit that holds their change has returned; if that commit fails,
///   everyone in the batch gets the error and nothing of the batch is stored.
///
/// With one caller at a time a batch holds one transition, so latency is unchanged; with many, the fsyncs
/// are shared (16 concurrent payers need one fsync per batch, not 16).
final class GroupCommitter: Sendable {
    struct Job: @unchecked Sendable {
        // @unchecked: `run` and `finish` are called on the drain queue only, once each, in that order.
        /// Runs the body (inside a savepoint when the flag says so); records its outcome for `finish` and
        /// returns whether the body succeeded.
        let run: (SQLiteConnection, _ inSavepoint: Bool) -> Bool
        /// Called after the batch's commit (nil) or with the error that stopped the batch.
        let finish: ((any Error)?) -> Void
        /// False when losing this change in a power cut is harmless (e.g. a quote): such a batch may skip
        /// the fsync when every job in it says so.
        let durable: Bool
    }

    private struct State {
        var pending: [Job] = []
        var draining = false
        var statistics = GroupCommitStatistics()
    }

    var statistics: GroupCommitStatistics { state.withLock { $0.statistics } }

    private let database: SQLiteDatabase
    private let relaxedSynchronous: Bool
    private let maxBatch: Int
    private let state = Mutex(State())
    private let drainQueue = DispatchQueue(label: "wpwithin.store.group-commit")
    private let scheduleOnCurrentThread: (@Sendable (@escaping @Sendable () -> Void) -> Bool)?
    private let observer: (@Sendable (Duration, Bool, Bool) -> Void)?

    /// - Parameters:
    ///   - relaxedSynchronous: the store runs `synchronous = FULL`, so batches of non-durable jobs may drop to
    ///     `NORMAL` for their commit.
    ///   - scheduleOnCurrentThread: see `StoreConfiguration.scheduleOnCurrentThread`.
    init(
        database: SQLiteDatabase, relaxedSynchronous: Bool, maxBatch: Int = 64,
        scheduleOnCurrentThread: (@Sendable (@escaping @Sendable () -> Void) -> Bool)? = nil,
        observer: (@Sendable (Duration, Bool, Bool) -> Void)? = nil
    ) {
        self.observer = observer
        self.database = database
        self.relaxedSynchronous = relaxedSynchronous
        self.maxBatch = max(1, maxBatch)
        self.scheduleOnCurrentThread = scheduleOnCurrentThread
    }

    func submit(_ job: Job) {
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(job)
            if state.draining { return false }
            state.draining = true
            return true
        }
        guard startDrain else { return }
        // On the caller's event loop the drain runs after the jobs already queued there, so the transitions
        // those submit join this batch; the commit (and its fsync) then runs on that thread, and the callers'
        // continuations resume there too: no thread is woken.
        if let schedule = scheduleOnCurrentThread, schedule({ self.drain(once: true) }) { return }
        drainQueue.async { self.drain(once: false) }
    }

    /// Runs batches until nothing is pending. `once`: run one batch, then hand the rest to a new drain
    /// (scheduled the same way), so a busy event loop gets to its other work between commits.
    private func drain(once: Bool) {
        var first = true
        while true {
            if once && !first {
                let more = state.withLock { state -> Bool in
                    if state.pending.isEmpty { state.draining = false; return false }
                    return true
                }
                if more {
                    if let schedule = scheduleOnCurrentThread, schedule({ self.drain(once: true) }) { return }
                    drainQueue.async { self.drain(once: false) }
                }
                return
            }
            first = false
            let batch = state.withLock { state -> [Job] in
                let count = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if batch.isEmpty {
                    state.draining = false
                } else {
                    state.statistics.batches += 1
                    state.statistics.transitions += batch.count
                    state.statistics.largestBatch = max(state.statistics.largestBatch, batch.count)
                }
                return batch
            }
            if batch.isEmpty { return }
            run(batch)
        }
    }

    private func run(_ batch: [Job]) {
        let relax = relaxedSynchronous && !batch.contains(where: \.durable)
        let fsynced = relaxedSynchronous && !relax
        let started = observer == nil ? nil : ContinuousClock.now
        let committed: Bool
        do {
            committed = try database.withConnection { db -> Bool in
                if relax { try db.run("PRAGMA synchronous = NORMAL") }
                defer { if relax { try? db.run("PRAGMA synchronous = FULL") } }
                try db.run("BEGIN IMMEDIATE TRANSACTION")
                // Alone in its batch, a transition needs no savepoint: its failure rolls the transaction back.
                let commit = batch.count == 1 ? batch[0].run(db, false) : batch.map { $0.run(db, true) }.contains(true)
                guard commit else {
                    if db.isInTransaction { try db.run("ROLLBACK TRANSACTION") }
                    return false
                }
                do {
                    try db.run("COMMIT TRANSACTION")
                } catch {
                    if db.isInTransaction { try? db.run("ROLLBACK TRANSACTION") }
                    throw error
                }
                return true
            }
        } catch {
            state.withLock {
                $0.statistics.failedCommits += 1
                $0.statistics.lastCommitFailed = true
            }
            if let started { observer?(ContinuousClock.now - started, fsynced, true) }
            for job in batch { job.finish(error) }
            return
        }
        if committed {
            state.withLock {
                if fsynced { $0.statistics.fsyncedCommits += 1 }
                $0.statistics.lastCommitFailed = false
            }
            if let started { observer?(ContinuousClock.now - started, fsynced, false) }
        }
        for job in batch { job.finish(nil) }
    }
}

extension GroupCommitter {
    /// Submits `body` and waits until its change is committed (or it failed).
    func transaction<T: Sendable>(
        durable: Bool, _ body: @escaping @Sendable (Transaction) throws -> T
    ) async throws -> Committed<T> {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Committed<T>, any Error>) in
            let outcome = OutcomeBox<T>()
            submit(Job(
                run: { db, inSavepoint in
                    do {
                        var committed: Committed<T>?
                        let apply = {
                            let tx = Transaction(db: db)
                            let value = try body(tx)
                            committed = Committed(value: value, events: tx.events)
                        }
                        if inSavepoint {
                            try db.run("SAVEPOINT transition")
                            do {
                                try apply()
                                try db.run("RELEASE SAVEPOINT transition")
                            } catch {
                                if db.isInTransaction {
                                    try? db.run("ROLLBACK TO SAVEPOINT transition")
                                    try? db.run("RELEASE SAVEPOINT transition")
                                }
                                throw error
                            }
                        } else {
                            try apply()
                        }
                        outcome.result = .success(committed!)
                        return true
                    } catch {
                        outcome.result = .failure(error)
                        return false
                    }
                },
                finish: { batchError in
                    // A body's own error wins (its savepoint was rolled back whatever the batch did).
                    if case .failure(let error)? = outcome.result {
                        continuation.resume(throwing: error)
                    } else if let batchError {
                        continuation.resume(throwing: batchError)
                    } else if let result = outcome.result {
                        continuation.resume(with: result)
                    } else {
                        continuation.resume(throwing: WPWError(.internalError, "store: a transition did not run"))
                    }
                },
                durable: durable))
        }
    }
}

/// How much group commit shared: `transitions / batches` transitions per commit on average.
public struct GroupCommitStatistics: Sendable, Hashable {
    public var batches = 0
    public var transitions = 0
    public var largestBatch = 0
    /// Commits made with `synchronous = FULL` (each fsyncs the WAL); the others wait for no disk.
    public var fsyncedCommits = 0
    /// Commits that failed (SQLITE_FULL after the reserve, an I/O error, …): nothing of their batch was stored.
    public var failedCommits = 0
    /// Whether the latest commit failed (cleared by the next one that succeeds).
    public var lastCommitFailed = false
}

/// One job's outcome, written by `run` and read by `finish` on the drain queue.
private final class OutcomeBox<T: Sendable>: @unchecked Sendable {
    var result: Result<Committed<T>, any Error>?
}
