#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import WPWithinCore

/// Checks on the socket path before binding: replace a stale socket, refuse when a daemon answers there.
public enum UnixSocketPath {
    public enum PrepareError: Error, CustomStringConvertible, Equatable {
        case alreadyServing(String)
        case notASocket(String)
        case pathTooLong(String)
        case system(String, String, Int32)

        public var description: String {
            switch self {
            case .alreadyServing(let path):
                return "another daemon is already listening on \(path); stop it first or choose another --socket"
            case .notASocket(let path):
                return "\(path) exists and is not a socket; refusing to replace it"
            case .pathTooLong(let path):
                return "socket path \(path) is longer than the 107 bytes a Unix socket address holds"
            case .system(let what, let path, let code):
                return "\(what) \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// The path a listening Unix socket is bound to (`getsockname`), e.g. one systemd passed; nil for an
    /// abstract or unnamed socket, or another family.
    public static func boundPath(of fd: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
        guard pathLength > 1 else { return nil }
        return withUnsafeBytes(of: &address.sun_path) { raw in
            let bytes = raw.prefix(pathLength).prefix { $0 != 0 }
            guard let first = raw.first, first != 0, !bytes.isEmpty else { return nil }  // abstract: leading NUL
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Makes `path` free to bind: a missing path is fine; a socket nobody listens on is removed.
    /// Returns true when a stale socket file was removed.
    @discardableResult
    public static func prepare(_ path: String) throws -> Bool {
        guard path.utf8.count < 108 else { throw PrepareError.pathTooLong(path) }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return false }
            throw PrepareError.system("cannot inspect", path, errno)
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw PrepareError.notASocket(path) }
        switch probe(path) {
        case 0:
            throw PrepareError.alreadyServing(path)
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else { throw PrepareError.system("cannot remove stale socket", path, errno) }
            return true
        case let code:
            throw PrepareError.system("cannot probe existing socket", path, code)
        }
    }

    /// Connects to `path` and hangs up: 0 when something listens, otherwise the errno.
    public static func probe(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? 0 : errno
    }

    /// Sets the socket file's mode and, when given, its group.
    public static func applyPermissions(_ path: String, mode: UInt32, group: UInt32?) throws {
        if let group, chown(path, uid_t.max, gid_t(group)) != 0 {
            throw PrepareError.system("cannot set group of", path, errno)
        }
        guard chmod(path, mode_t(mode)) == 0 else { throw PrepareError.system("cannot set mode of", path, errno) }
    }

    /// Resolves a group name or a numeric gid.
    public static func groupID(_ nameOrID: String) -> UInt32? {
        if let gid = UInt32(nameOrID) { return gid }
        guard let entry = getgrnam(nameOrID) else { return nil }
        return UInt32(entry.pointee.gr_gid)
    }
}
