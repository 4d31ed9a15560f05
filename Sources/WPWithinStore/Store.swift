#if canImport(Glibc)
import Glibc
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Darwin)
import Darwin
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Darwin.open(path, flags, mode) }
private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif
import Logging
import WPWithinCore
import WPWithinCrypto
import WPWithinSQLite

/// The daemon's durable state: one SQLite file (`wpwithin.sqlite`, WAL, mode 0600) in the state directory.
///
/// It holds the device identity, the producer's token signing key, the catalog with stock, producer quotes,
/// orders with their gateway outcomes, delivery tokens and unit ledgers, the consumer's quotes and purchases,
/// RPC idempotency keys and the event journal.
///
/// **No card data**: there is no column for a card number, a CVC or a gateway client token, in producer or
/// consumer records. Callers must not put card data in event payloads or idempotent results either.
///
/// Every money or unit transition is one `BEGIN IMMEDIATE` transaction on the one connection: it loads
/// the current rows, applies the pure domain transition, writes the result and appends the journal events,
/// then commits. A domain error rolls everything back and propagates unchanged as a `WPWError`; database
/// failures become `WPWError(.internalError)`. Results come back as `Committed` values carrying the
/// committed events (with their seq) for the caller to publish **after** the call returns.
///
/// The connection is `WPWithinSQLite` over the system's libsqlite3 (statements cached, bound and read by
/// index). Reads run on the calling thread; commits run where `GroupCommitter` schedules them.
public final class Store: Sendable {
    public static let fileName = "wpwithin.sqlite"

    /// The identity made on first open: lowercase UUID `serverID` and the device name.
    public let identity: DeviceIdentityRecord
    /// The `TokenSigner` over the stored signing key (HMAC-SHA256).
    public let signer: ClosureTokenSigner
    public let configuration: StoreConfiguration
    /// Full path of the SQLite file.
    public let path: String

    let database: SQLiteDatabase
    let committer: GroupCommitter
    let space: SpaceGuard
    let logger: Logger

    var random: any RandomByteSource { configuration.random }

    private init(
        database: SQLiteDatabase, path: String, identity: DeviceIdentityRecord, signer: ClosureTokenSigner,
        configuration: StoreConfiguration, logger: Logger
    ) {
        self.database = database
        self.committer = GroupCommitter(
            database: database, relaxedSynchronous: configuration.synchronous == .full,
            scheduleOnCurrentThread: configuration.scheduleOnCurrentThread, observer: configuration.commitObserver)
        self.path = path
        self.identity = identity
        self.signer = signer
        self.configuration = configuration
        self.logger = logger
        let directory = String(path.dropLast(Store.fileName.count))
        self.space = SpaceGuard(
            directory: directory.isEmpty ? "." : directory, reserveBytes: configuration.reserveBytes,
            minimumFreeBytes: configuration.minimumFreeBytes)
    }

    /// Opens (creating when missing) `directory/wpwithin.sqlite`: creates the directory (0700) and the file
    /// (0600), applies pending migrations, and creates the identity and the signing key on first open.
    /// Blocking: call it at start-up.
    public static func open(
        directory: String, configuration: StoreConfiguration = StoreConfiguration(), logger: Logger
    ) throws -> Store {
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        try createPrivateFile(directory: directory, path: path)

        let database: SQLiteDatabase
        let (identity, key): (DeviceIdentityRecord, [UInt8])
        do {
            database = try SQLiteDatabase(path: path)
            (identity, key) = try database.withConnection { db in
                try configure(db, configuration)
                // A database written by a newer daemon has migrations this one does not know: refuse it rather
                // than run on a schema it does not understand (and leave it as it is).
                if try Schema.hasBeenSuperseded(db) {
                    throw WPWError(.internalError, "the store at \(path) was written by a newer wpwithind; upgrade or restore a backup")
                }
                try Schema.migrate(db)
                try db.run("BEGIN IMMEDIATE TRANSACTION")
                do {
                    let secrets = try loadOrCreateSecrets(
                        db, random: configuration.random, deviceName: configuration.deviceName,
                        initialServerID: configuration.initialServerID)
                    try db.run("COMMIT TRANSACTION")
                    return secrets
                } catch {
                    if db.isInTransaction { try? db.run("ROLLBACK TRANSACTION") }
                    throw error
                }
            }
        } catch let error as SQLiteError {
            throw WPWError(.internalError, "cannot open the store at \(path): \(error.message)")
        }
        // SQLite creates -wal/-shm with the database file's mode; make sure they are private too.
        for suffix in ["-wal", "-shm"] { _ = chmod(path + suffix, 0o600) }

        let hmac = try HMACTokenSigner(key: key)
        let signer = ClosureTokenSigner(sign: { hmac.sign($0) }, verify: { hmac.verify($0, for: $1) })
        logger.info("store opened", metadata: [
            "path": .string(path), "synchronous": .string(configuration.synchronous.rawValue),
            "serverID": .string(identity.serverID),
        ])
        let store = Store(
            database: database, path: path, identity: identity, signer: signer, configuration: configuration,
            logger: logger)
        if configuration.reserveBytes > 0, !store.space.ensureReserve() {
            logger.warning("No room for the space reserve on the state volume", metadata: [
                LogKey.storeFreeBytes: "\(store.space.freeBytes() ?? -1)", LogKey.storeReserveBytes: "\(configuration.reserveBytes)",
            ])
        }
        return store
    }

    static let walCheckpointPages = 256
    /// The connection's page cache bound, in KiB.
    static let pageCacheKiB = 512
    static let walSizeLimitBytes = 1 << 20

    /// The connection's settings: WAL, the configured `synchronous` (read back: it must hold), a bounded WAL,
    /// foreign keys, the busy timeout.
    private static func configure(_ db: SQLiteConnection, _ configuration: StoreConfiguration) throws {
        let milliseconds = configuration.busyTimeout.components.seconds * 1000
            + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000
        try db.setBusyTimeout(milliseconds: Int32(clamping: milliseconds))
        let mode = try db.text("PRAGMA journal_mode = WAL")
        guard mode == "wal" else {
            throw SQLiteError(extendedCode: 1, message: "could not enable WAL (journal_mode \(mode ?? "?"))")
        }
        let synchronous = configuration.synchronous
        try db.execute("PRAGMA synchronous = \(synchronous.rawValue.uppercased())")
        guard try db.integer("PRAGMA synchronous") == Int64(synchronous.sqliteValue) else {
            throw SQLiteError(extendedCode: 1, message: "could not set synchronous = \(synchronous.rawValue)")
        }
        // A bounded WAL: checkpoint every 256 pages (1 MiB at 4 KiB pages, not SQLite's 1000), and cut
        // the file back to 1 MiB after a checkpoint, so a small state volume is not filled by the log.
        try db.execute("PRAGMA wal_autocheckpoint = \(Store.walCheckpointPages)")
        _ = try db.integer("PRAGMA journal_size_limit = \(Store.walSizeLimitBytes)")
        try db.execute("PRAGMA foreign_keys = ON")
        // The page cache of the one connection: \(Store.pageCacheKiB) KiB, not SQLite's 2,000 (docs/operations.md).
        try db.execute("PRAGMA cache_size = -\(Store.pageCacheKiB)")
    }

    // MARK: Space

    /// Throws `storageLow` when the state volume has less free space than `minimumFreeBytes`: callers check
    /// it before taking new money (a quote, a charge, a consumer's payment). Re-makes the space reserve when
    /// there is room again.
    public func requireRoomForNewMoney() throws {
        try space.requireRoomForNewMoney()
    }

    /// Bytes free on the state volume, and whether the space reserve is in place (for `getStatus`).
    public var spaceStatus: (freeBytes: Int?, reserveInPlace: Bool) { (space.freeBytes(), space.hasReserve) }

    /// Makes the space reserve again when it was used and there is room (the recovery loop calls it).
    public func restoreSpaceReserve() {
        guard configuration.reserveBytes > 0, !space.hasReserve else { return }
        if space.ensureReserve() { logger.notice("Space reserve restored on the state volume") }
    }

    /// Closes the database (checkpointing the WAL). Further calls fail.
    public func close() throws {
        try Store.mapErrors { try database.close() }
        logger.info("store closed", metadata: ["path": .string(path)])
    }

    /// The names of the applied migrations, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await read { db in try Schema.appliedMigrations(db) }
    }

    // MARK: Identity and key

    private static func loadOrCreateSecrets(
        _ db: SQLiteConnection, random: any RandomByteSource, deviceName: String, initialServerID: String?
    ) throws -> (DeviceIdentityRecord, [UInt8]) {
        let now = Clock.nowMilliseconds()
        if try db.integer("SELECT 1 FROM device WHERE id = 1") == nil {
            let serverID = try initialServerID ?? Identifiers.uuid(from: random)
            try db.run(
                "INSERT INTO device (id, server_id, name, created_at_ms) VALUES (1, ?, ?, ?)", [serverID, deviceName, now])
        }
        if try db.integer("SELECT 1 FROM signing_key WHERE id = 1") == nil {
            let key = try random.bytes(count: HMACTokenSigner.minimumKeyLength)
            guard key.count == HMACTokenSigner.minimumKeyLength else {
                throw WPWError(.internalError, "random source returned \(key.count) bytes for the signing key")
            }
            try db.run("INSERT INTO signing_key (id, key, created_at_ms) VALUES (1, ?, ?)", [key, now])
        }
        let device = try db.queryOne("SELECT server_id, name, created_at_ms FROM device WHERE id = 1") { row in
            DeviceIdentityRecord(serverID: row.text(0), name: row.text(1), createdAtMilliseconds: row.int64(2))
        }
        let key = try db.queryOne("SELECT key FROM signing_key WHERE id = 1") { $0.blob(0) }
        guard let device, let key else { throw WPWError(.internalError, "store: the identity rows are missing") }
        return (device, key)
    }

    private static func createPrivateFile(directory: String, path: String) throws {
        var isDirectory = false
        var st = stat()
        if stat(directory, &st) == 0 { isDirectory = (st.st_mode & S_IFMT) == S_IFDIR }
        if !isDirectory {
            // Create intermediate directories, each 0700.
            var current = directory.hasPrefix("/") ? "" : "."
            for component in directory.split(separator: "/") {
                current += "/" + component
                if mkdir(current, 0o700) != 0 && errno != EEXIST {
                    throw WPWError(.internalError, "cannot create the state directory \(current) (errno \(errno))")
                }
            }
        }
        let fd = systemOpen(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WPWError(.internalError, "cannot create \(path) (errno \(errno))") }
        // An existing file keeps its contents; whatever its mode was, it becomes owner-only.
        let chmodResult = fchmod(fd, 0o600)
        _ = systemClose(fd)
        guard chmodResult == 0 else { throw WPWError(.internalError, "cannot chmod 0600 \(path) (errno \(errno))") }
    }

    // MARK: Transactions

    /// Runs `body` as one transition on the serial writer: in a `BEGIN IMMEDIATE` transaction shared with
    /// the transitions submitted meanwhile (group commit, see `GroupCommitter`), inside a savepoint of its
    /// own. Events appended through the `Transaction` are committed with it and returned with the value.
    /// Anything thrown rolls back this transition only. Returns after the commit.
    ///
    /// `durable: false` is for changes whose loss in a power cut is harmless (quotes): a batch made only of
    /// those commits without the fsync when the store runs `synchronous = full`.
    ///
    /// When the volume is full (SQLITE_FULL), the space reserve is given up, the WAL is checkpointed and cut
    /// back, and the transition is tried once more: an outcome the gateway has already decided must not be
    /// lost for want of a few kilobytes.
    func transaction<T: Sendable>(
        durable: Bool = true, _ body: @escaping @Sendable (Transaction) throws -> T
    ) async throws -> Committed<T> {
        do {
            return try await committer.transaction(durable: durable, body)
        } catch let error as SQLiteError where error.isFull {
            let released = space.releaseReserve()
            logger.warning("State volume full; giving up the space reserve to record the change", metadata: [
                LogKey.storeFreeBytes: "\(space.freeBytes() ?? -1)", "store.reserveReleased": "\(released)",
            ])
            _ = try? database.withConnection { db in try db.integer("PRAGMA wal_checkpoint(TRUNCATE)") }
            return try await Store.mapErrorsAsync { try await committer.transaction(durable: durable, body) }
        } catch let error as SQLiteError {
            throw Store.mapped(error)
        }
    }

    /// Commits and transitions so far (group commit shares one commit among concurrent transitions).
    public var commitStatistics: GroupCommitStatistics { committer.statistics }

    /// For `getStatus`: whether a new payment could be recorded now. Writable means the latest commit did
    /// not fail and the state volume has room for new money (the space reserve in place and
    /// `minimumFreeBytes` free); `freeBytes` is the volume's free space (nil when unknown).
    public func health() -> (writable: Bool, freeBytes: Int?, lastCommitFailed: Bool) {
        let lastCommitFailed = committer.statistics.lastCommitFailed
        let room = (try? space.requireRoomForNewMoney()) != nil
        return (!lastCommitFailed && room, space.freeBytes(), lastCommitFailed)
    }

    /// A read on the connection, outside any transaction: nothing can write between the closure's
    /// statements (the connection is held for the whole closure), so it sees one consistent state.
    ///
    /// It runs on the calling thread: a read takes microseconds, far less than the two thread wake-ups of an
    /// asynchronous hop to another thread and back. It waits while a commit is in progress on another thread.
    func read<T: Sendable>(_ body: (SQLiteConnection) throws -> T) async throws -> T {
        try Store.mapErrors { try database.withConnection(body) }
    }

    static func mapped(_ error: SQLiteError) -> WPWError {
        WPWError(.internalError, "store: \(error.message)", data: ["sqliteCode": .int(Int64(error.extendedCode))])
    }

    static func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw mapped(error)
        }
    }

    static func mapErrorsAsync<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteError {
            throw mapped(error)
        }
    }
}

/// The device identity stored with the state.
public struct DeviceIdentityRecord: Sendable, Hashable {
    /// Lowercase v4 UUID.
    public let serverID: String
    public let name: String
    public let createdAtMilliseconds: Int64
}

/// A value committed by a transition, with the journal events committed in the same transaction
/// (increasing seq). Publish the events after the call returns; they are already durable.
public struct Committed<Value: Sendable>: Sendable {
    public let value: Value
    public let events: [StoredEvent]

    public init(value: Value, events: [StoredEvent]) {
        self.value = value
        self.events = events
    }
}

/// The handle a transition body uses: the database plus the events it appended.
final class Transaction {
    let db: SQLiteConnection
    private(set) var events: [StoredEvent] = []

    init(db: SQLiteConnection) { self.db = db }

    /// Appends an event to the journal within this transaction.
    func append(_ type: String, _ payload: [String: JSONValue], at time: Instant) throws {
        events.append(try EventJournal.insert(db, type: type, payload: payload, time: time))
    }
}

enum Clock {
    /// Wall-clock milliseconds since the epoch, for audit columns only (domain decisions use `now`).
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}


/// The connection settings in force, for diagnostics (`wpwctl status`) and tests.
public struct StorePragmas: Sendable, Hashable {
    public let journalMode: String
    /// 2 = FULL, 1 = NORMAL.
    public let synchronous: Int
    public let foreignKeys: Int
    public let busyTimeoutMilliseconds: Int
}

extension Store {
    public func pragmas() async throws -> StorePragmas {
        try await read { db in
            StorePragmas(
                journalMode: try db.text("PRAGMA journal_mode") ?? "",
                synchronous: Int(try db.integer("PRAGMA synchronous") ?? -1),
                foreignKeys: Int(try db.integer("PRAGMA foreign_keys") ?? -1),
                busyTimeoutMilliseconds: Int(try db.integer("PRAGMA busy_timeout") ?? -1))
        }
    }
}
