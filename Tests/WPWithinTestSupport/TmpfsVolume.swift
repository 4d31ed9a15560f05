#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A small real volume (a tmpfs of a few MiB mounted at a path), for tests of a full disk. Mounting needs
/// root (CI runs the suite as root); ``canMount`` says whether this machine allows it, and tests that need a
/// volume are enabled only then.
public final class TmpfsVolume: @unchecked Sendable {
    public let path: String
    public let bytes: Int
    private var fillers: [String] = []

    /// Whether a tmpfs can be mounted here (tried once, on a scratch directory).
    public static let canMount: Bool = {
        let probe = NSTemporaryDirectory() + "wpw-tmpfs-probe-\(getpid())"
        mkdir(probe, 0o700)
        defer { rmdir(probe) }
        guard mount("tmpfs", probe, "tmpfs", 0, "size=64k") == 0 else { return false }
        umount2(probe, Int32(MNT_DETACH))
        return true
    }()

    /// Mounts a tmpfs of `bytes` at `path` (created when missing, mode 0700).
    public init(at path: String, bytes: Int) throws {
        self.path = path
        self.bytes = bytes
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            throw TestSupportError("mount tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { umount2(path, Int32(MNT_DETACH)) }

    /// Bytes free on the volume.
    public var freeBytes: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Fills the volume with a file until at most `leaving` bytes are free (0: full to the last block).
    public func fill(leaving: Int = 0) throws {
        let name = path + "/filler-\(fillers.count)"
        let fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestSupportError("open \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fillers.append(name)
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        var offset = 0
        while freeBytes > leaving {
            let n = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress, min(4096, max(1, freeBytes - leaving)), off_t(offset)) }
            if n <= 0 { break }  // ENOSPC: full
            offset += n
        }
        fsync(fd)
    }

    /// Removes every filler file: the space comes back.
    public func drain() {
        for name in fillers { unlink(name) }
        fillers.removeAll()
    }
}
