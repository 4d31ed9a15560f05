import WPWithinCore
import WPWithinCrypto

/// How the store opens its SQLite file.
public struct StoreConfiguration: Sendable {
    /// SQLite's `PRAGMA synchronous` in WAL mode.
    public enum Synchronous: String, Sendable, Hashable, CaseIterable {
        /// Every commit is fsynced before it returns: a committed transition survives a power loss.
        case full
        /// The WAL is fsynced only at checkpoints: a committed transition survives a crash of the
        /// process (kill -9), but the last commits may be lost on a power loss or kernel crash. The
        /// database is never corrupted either way.
        case normal

        /// The value `PRAGMA synchronous` reads back.
        var sqliteValue: Int { self == .full ? 2 : 1 }
    }

    /// Default `.full`: money and units must survive a power loss.
    public var synchronous: Synchronous
    /// How long a writer waits for a lock held by another connection (another process on the same file,
    /// or `sqlite3 .backup`) before failing with SQLITE_BUSY.
    public var busyTimeout: Duration
    /// The device name written with the identity when the store is created (ignored afterwards).
    public var deviceName: String
    /// Validity and limits of quotes made by `createQuote`.
    public var quotePolicy: QuotePolicy
    /// Randomness for identities, payment references, token keys and the signing key. Tests may pass a
    /// deterministic source; production keeps the system CSPRNG.
    public var random: any RandomByteSource
    /// The serverID to adopt when the store is created (an identity the device already had); nil makes one.
    public var initialServerID: String?
    /// Where a group commit runs. Given work, the hook either schedules it to run soon **on the calling
    /// thread** (e.g. `EventLoop.execute` on the event loop that is running the caller) and returns true, or
    /// returns false, and the store runs it on a queue of its own. On the caller's loop, transitions
    /// submitted in the same loop tick share one commit and nobody waits for a thread wake-up; the daemon
    /// sets this, tests and tools may leave it nil.
    public var scheduleOnCurrentThread: (@Sendable (@escaping @Sendable () -> Void) -> Bool)?
    /// Bytes kept in a reserve file in the state directory, given up when the volume is full so that the
    /// outcome of a charge can always be recorded (0: no reserve). See `SpaceGuard`.
    public var reserveBytes: Int = 256 << 10
    /// New quotes and charges are refused (`storageLow`) while less than this is free on the state volume.
    public var minimumFreeBytes: Int = 1 << 20
    /// Whether a producer's delivery begin and end (unit transitions) are fsynced like money transitions.
    /// Default false: they survive `kill -9` and are made durable by the next money commit (docs/store.md,
    /// "The fsync budget").
    public var durableDeliveries = false
    /// Told of every commit (metrics): how long the transaction took from BEGIN to the end of COMMIT,
    /// whether it was fsynced, and whether it failed. Called on the thread that committed.
    public var commitObserver: (@Sendable (_ duration: Duration, _ fsynced: Bool, _ failed: Bool) -> Void)?

    public init(
        synchronous: Synchronous = .full, busyTimeout: Duration = .seconds(5), deviceName: String = "wpwithind",
        quotePolicy: QuotePolicy = QuotePolicy(), random: any RandomByteSource = SystemRandom()
    ) {
        self.synchronous = synchronous
        self.busyTimeout = busyTimeout
        self.deviceName = deviceName
        self.quotePolicy = quotePolicy
        self.random = random
    }
}

/// The system CSPRNG (the kernel's `getrandom(2)`, `Crypto.randomBytes`) as the core's `RandomByteSource`.
public struct SystemRandom: RandomByteSource {
    public init() {}
    public func bytes(count: Int) throws -> [UInt8] {
        do {
            return try Crypto.randomBytes(count: count)
        } catch {
            throw WPWError(.internalError, "the system random generator failed")
        }
    }
}
