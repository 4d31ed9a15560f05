#if canImport(Glibc)
import Glibc
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Darwin)
import Darwin
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Darwin.open(path, flags, mode) }
private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif
import Foundation
import GRDB
import Logging
import WPWithinCore
import WPWithinCrypto

/// The daemon's durable state: one SQLite file (`wpwithin.sqlite`, WAL, mode 0600) in the state directory.
///
/// It holds the device identity, the producer's token signing key, the catalog with stock, producer quotes,
/// orders with their gateway outcomes, delivery tokens and unit ledgers, the consumer's quotes and purchases,
/// RPC idempotency keys and the event journal.
///
/// **No card data**: there is no column for a card number, a CVC or a gateway client token, in producer or
/// consumer records. Callers must not put card data in event payloads or idempotent results either.
///
/// Every money or unit transition is one `BEGIN IMMEDIATE` transaction on GRDB's serial writer: it loads
/// the current rows, applies the pure domain transition, writes the result and appends the journal events,
/// then commits. A domain error rolls everything back and propagates unchanged as a `WPWError`; database
/// failures become `WPWError(.internalError)`. Results come back as `Committed` values carrying the
/// committed events (with their seq) for the caller to publish **after** the call returns.
///
/// All methods are `async` and run on GRDB's writer/reader queue, off the cooperative pool.
public final class Store: Sendable {
    public static let fileName = "wpwithin.sqlite"

    /// The identity made on first open: lowercase UUID `serverID` and the device name.
    public let identity: DeviceIdentityRecord
    /// The `TokenSigner` over the stored signing key (HMAC-SHA256).
    public let signer: ClosureTokenSigner
    public let configuration: StoreConfiguration
    /// Full path of the SQLite file.
    public let path: String

    let dbQueue: DatabaseQueue
    let committer: GroupCommitter
    let space: SpaceGuard
    let logger: Logger

    var random: any RandomByteSource { configuration.random }

    private init(
        dbQueue: DatabaseQueue, path: String, identity: DeviceIdentityRecord, signer: ClosureTokenSigner,
        configuration: StoreConfiguration, logger: Logger
    ) {
        self.dbQueue = dbQueue
        self.committer = GroupCommitter(
            dbQueue: dbQueue, relaxedSynchronous: configuration.synchronous == .full,
            scheduleOnCurrentThread: configuration.scheduleOnCurrentThread)
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

        var config = Configuration()
        // Not `config.journalMode = .wal`: GRDB then forces `synchronous = NORMAL` after `prepareDatabase`,
        // silently weakening `.full`. WAL is set here instead, before `synchronous`.
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(configuration.busyTimeout.timeInterval)
        config.label = "wpwithin.store"
        let synchronous = configuration.synchronous
        config.prepareDatabase { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else { throw DatabaseError(message: "could not enable WAL (journal_mode \(mode ?? "?"))") }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue.uppercased())")
            let applied = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard applied == synchronous.sqliteValue else {
                throw DatabaseError(message: "could not set synchronous = \(synchronous.rawValue)")
            }
            // A bounded WAL: checkpoint every 256 pages (1 MiB at 4 KiB pages, not SQLite's 1000), and cut
            // the file back to 1 MiB after a checkpoint, so a small state volume is not filled by the log.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Store.walCheckpointPages)")
            _ = try Int.fetchOne(db, sql: "PRAGMA journal_size_limit = \(Store.walSizeLimitBytes)")
        }

        let dbQueue: DatabaseQueue
        do {
            dbQueue = try DatabaseQueue(path: path, configuration: config)
            // A database written by a newer daemon has migrations this one does not know: refuse it rather
            // than run on a schema it does not understand.
            if try dbQueue.read({ db in try Schema.migrator.hasBeenSuperseded(db) }) {
                throw WPWError(.internalError, "the store at \(path) was written by a newer wpwithind; upgrade or restore a backup")
            }
            try Schema.migrator.migrate(dbQueue)
        } catch let error as DatabaseError {
            throw WPWError(.internalError, "cannot open the store at \(path): \(error.message ?? "\(error)")")
        }
        // SQLite creates -wal/-shm with the database file's mode; make sure they are private too.
        for suffix in ["-wal", "-shm"] { _ = chmod(path + suffix, 0o600) }

        let random = configuration.random
        let deviceName = configuration.deviceName
        let initialServerID = configuration.initialServerID
        let (identity, key): (DeviceIdentityRecord, [UInt8]) = try Store.mapErrors {
            try dbQueue.writeWithoutTransaction { db in
                var result: (DeviceIdentityRecord, [UInt8])?
                try db.inTransaction(.immediate) {
                    result = try loadOrCreateSecrets(db, random: random, deviceName: deviceName, initialServerID: initialServerID)
                    return .commit
                }
                return result!
            }
        }
        let hmac = try HMACTokenSigner(key: key)
        let signer = ClosureTokenSigner(sign: { hmac.sign($0) }, verify: { hmac.verify($0, for: $1) })
        logger.info("store opened", metadata: [
            "path": .string(path), "synchronous": .string(configuration.synchronous.rawValue),
            "serverID": .string(identity.serverID),
        ])
        let store = Store(
            dbQueue: dbQueue, path: path, identity: identity, signer: signer, configuration: configuration,
            logger: logger)
        if configuration.reserveBytes > 0, !store.space.ensureReserve() {
            logger.warning("No room for the space reserve on the state volume", metadata: [
                LogKey.storeFreeBytes: "\(store.space.freeBytes() ?? -1)", LogKey.storeReserveBytes: "\(configuration.reserveBytes)",
            ])
        }
        return store
    }

    static let walCheckpointPages = 256
    static let walSizeLimitBytes = 1 << 20

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
        try Store.mapErrors { try dbQueue.close() }
        logger.info("store closed", metadata: ["path": .string(path)])
    }

    /// The names of the applied migrations, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await read { db in try Schema.migrator.appliedMigrations(db) }
    }

    // MARK: Identity and key

    private static func loadOrCreateSecrets(
        _ db: Database, random: any RandomByteSource, deviceName: String, initialServerID: String?
    ) throws -> (DeviceIdentityRecord, [UInt8]) {
        let now = Clock.nowMilliseconds()
        if try Row.fetchOne(db, sql: "SELECT 1 FROM device WHERE id = 1") == nil {
            let serverID = try initialServerID ?? Identifiers.uuid(from: random)
            try db.execute(
                sql: "INSERT INTO device (id, server_id, name, created_at_ms) VALUES (1, ?, ?, ?)",
                arguments: [serverID, deviceName, now])
        }
        if try Row.fetchOne(db, sql: "SELECT 1 FROM signing_key WHERE id = 1") == nil {
            let key = try random.bytes(count: HMACTokenSigner.minimumKeyLength)
            guard key.count == HMACTokenSigner.minimumKeyLength else {
                throw WPWError(.internalError, "random source returned \(key.count) bytes for the signing key")
            }
            try db.execute(
                sql: "INSERT INTO signing_key (id, key, created_at_ms) VALUES (1, ?, ?)",
                arguments: [Data(key), now])
        }
        let device = try Row.fetchOne(db, sql: "SELECT server_id, name, created_at_ms FROM device WHERE id = 1")!
        let keyRow = try Row.fetchOne(db, sql: "SELECT key FROM signing_key WHERE id = 1")!
        let key: Data = keyRow["key"]
        return (
            DeviceIdentityRecord(serverID: device["server_id"], name: device["name"], createdAtMilliseconds: device["created_at_ms"]),
            [UInt8](key)
        )
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
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            let released = space.releaseReserve()
            logger.warning("State volume full; giving up the space reserve to record the change", metadata: [
                LogKey.storeFreeBytes: "\(space.freeBytes() ?? -1)", "store.reserveReleased": "\(released)",
            ])
            _ = try? await dbQueue.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            return try await Store.mapErrorsAsync { try await committer.transaction(durable: durable, body) }
        } catch let error as DatabaseError {
            throw Store.mapped(error)
        }
    }

    /// Commits and transitions so far (group commit shares one commit among concurrent transitions).
    public var commitStatistics: GroupCommitStatistics { committer.statistics }

    /// A read on the serial connection, outside any transaction: nothing can write between the
    /// closure's statements (the writer is this same queue), so it sees one consistent state. Not
    /// `dbQueue.read`, which wraps every read in transaction and `query_only` statements compiled anew.
    ///
    /// It runs on the calling thread (GRDB's serial queue is entered synchronously): a read takes
    /// microseconds, far less than the two thread wake-ups of an asynchronous hop to the queue and back.
    /// It waits while a commit is in progress on another thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try Store.mapErrors { try dbQueue.unsafeRead(body) }
    }

    static func mapped(_ error: DatabaseError) -> WPWError {
        WPWError(.internalError, "store: \(error.message ?? "SQLite error \(error.resultCode)")",
                 data: ["sqliteCode": .int(Int64(error.extendedResultCode.rawValue))])
    }

    static func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw mapped(error)
        }
    }

    static func mapErrorsAsync<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError {
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
}

/// The handle a transition body uses: the database plus the events it appended.
final class Transaction {
    let db: Database
    private(set) var events: [StoredEvent] = []

    init(db: Database) { self.db = db }

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

extension Instant {
    /// Milliseconds since the epoch (saturating), for audit columns.
    var milliseconds: Int64 {
        let (ms, overflow) = secondsSinceEpoch.multipliedReportingOverflow(by: 1000)
        if overflow { return secondsSinceEpoch < 0 ? .min : .max }
        return ms + Int64(nanoseconds) / 1_000_000
    }
}

extension Duration {
    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
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
                journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                foreignKeys: try Int.fetchOne(db, sql: "PRAGMA foreign_keys") ?? -1,
                busyTimeoutMilliseconds: try Int.fetchOne(db, sql: "PRAGMA busy_timeout") ?? -1)
        }
    }
}
