#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import WPWithinCore
import WPWithinStore

/// The Thing's identity: a lowercase UUID made once.
///
/// The database's `device` row is its one source of truth (``init(_:)`` builds the value from
/// `Store.identity`). Daemons before it kept the serverId in `identity.json` in the state directory too;
/// that file is now only read: to seed a new database with the serverId the Thing already had, and to refuse
/// to start when it and the database disagree (``reconcile(database:databasePath:legacyFile:)``).
public struct DeviceIdentity: Sendable, Equatable {
    public var serverId: String
    /// When the identity was made, in milliseconds since the Unix epoch.
    public var createdAtMilliseconds: Int64

    /// The file older daemons kept the identity in.
    public static let legacyFileName = "identity.json"

    public init(serverId: String, createdAtMilliseconds: Int64) {
        self.serverId = serverId
        self.createdAtMilliseconds = createdAtMilliseconds
    }

    public init(_ record: DeviceIdentityRecord) {
        self.init(serverId: record.serverID, createdAtMilliseconds: record.createdAtMilliseconds)
    }

    /// `identity.json` of an older daemon: where it is and the serverId it holds.
    public struct LegacyFile: Sendable, Equatable {
        public var path: String
        public var serverId: String
    }

    /// Reads `stateDirectory/identity.json`; nil when there is none. Throws when it exists but cannot be
    /// read or holds no valid lowercase serverId (the daemon must not guess an identity).
    public static func legacyFile(stateDirectory: String) throws(DeviceIdentityError) -> LegacyFile? {
        let path = stateDirectory.hasSuffix("/") ? stateDirectory + legacyFileName : stateDirectory + "/" + legacyFileName
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            bytes += chunk[..<count]
            // An identity file is a few hundred bytes; anything this large is not one.
            guard bytes.count <= 64 << 10 else { throw .invalid(path: path) }
        }
        guard let value = try? JSONValue.parse(bytes), let serverId = value["serverId"]?.stringValue,
              isLowercaseUUID(serverId) else {
            throw .invalid(path: path)
        }
        return LegacyFile(path: path, serverId: serverId)
    }

    /// The identity to run with: the database's, after checking that `identity.json` (when there is one)
    /// names the same serverId. Throws ``DeviceIdentityError/mismatch(databaseServerId:databasePath:fileServerId:filePath:)``
    /// when they differ: one of them belongs to another Thing (a restored backup, a copied directory).
    public static func reconcile(
        database: DeviceIdentityRecord, databasePath: String, legacyFile: LegacyFile?
    ) throws(DeviceIdentityError) -> DeviceIdentity {
        if let legacyFile, legacyFile.serverId != database.serverID {
            throw .mismatch(
                databaseServerId: database.serverID, databasePath: databasePath,
                fileServerId: legacyFile.serverId, filePath: legacyFile.path)
        }
        return DeviceIdentity(database)
    }

    /// 8-4-4-4-12 lowercase hex digits.
    static func isLowercaseUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) else {
                    return false
                }
            }
        }
        return true
    }
}

/// Why the daemon cannot settle on its identity at start-up (it then exits 1).
public enum DeviceIdentityError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String)
    case mismatch(databaseServerId: String, databasePath: String, fileServerId: String, filePath: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read the identity file \(path): \(reason)"
        case .invalid(let path):
            return "the identity file \(path) holds no valid lowercase serverId"
        case .mismatch(let databaseServerId, let databasePath, let fileServerId, let filePath):
            return "the database \(databasePath) holds serverId \(databaseServerId) but \(filePath) holds serverId \(fileServerId); "
                + "refusing to start: keep the pair that belongs to this Thing (restore the matching backup), "
                + "or remove \(filePath) to keep the database's identity"
        }
    }
}
