#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import WPWithinCore

/// Keeps a full state volume from costing money.
///
/// * **A reserve file** (`space-reserve`, `reserveBytes` of real blocks) sits in the state directory. When a
///   write fails because the volume is full, the store deletes it and tries again: the outcome of a charge
///   the gateway has already made can always be recorded. It is made again once there is room.
/// * **A floor for new money**: new quotes and new charges are refused (`storageLow`, -32004) while the free
///   space is under `minimumFreeBytes`; what is already under way (recording an outcome, a delivery, a
///   refund) goes on.
///
/// `statvfs` is one system call (about a microsecond); it runs once per quote and per charge.
final class SpaceGuard: Sendable {
    static let reserveName = "space-reserve"

    let directory: String
    let reservePath: String
    let reserveBytes: Int
    let minimumFreeBytes: Int
    private let reserved = Mutex(false)

    init(directory: String, reserveBytes: Int, minimumFreeBytes: Int) {
        self.directory = directory
        self.reservePath = directory.hasSuffix("/") ? directory + Self.reserveName : directory + "/" + Self.reserveName
        self.reserveBytes = max(0, reserveBytes)
        self.minimumFreeBytes = max(0, minimumFreeBytes)
    }

    /// Bytes an unprivileged writer can still use on the state volume (nil if `statvfs` fails).
    func freeBytes() -> Int? {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : bytes
    }

    var hasReserve: Bool { reserved.withLock { $0 } }

    /// Makes the reserve file when it is missing and the volume has room for it and the floor; returns
    /// whether the reserve is in place. Cheap when it already is.
    @discardableResult
    func ensureReserve() -> Bool {
        guard reserveBytes > 0 else { return false }
        if reserved.withLock({ $0 }) { return true }
        var st = stat()
        if stat(reservePath, &st) == 0, Int(st.st_size) >= reserveBytes, st.st_blocks * 512 >= Int(reserveBytes) {
            reserved.withLock { $0 = true }
            return true
        }
        guard let free = freeBytes(), free >= reserveBytes + minimumFreeBytes else { return false }
        let fd = open(reservePath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // Real blocks, not a hole: posix_fallocate where the file system has it, zeros otherwise.
        if posix_fallocate(fd, 0, off_t(reserveBytes)) != 0 {
            let zeros = [UInt8](repeating: 0, count: 64 << 10)
            var written = 0
            while written < reserveBytes {
                let n = zeros.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, reserveBytes - written)) }
                guard n > 0 else {
                    _ = ftruncate(fd, 0)
                    unlink(reservePath)
                    return false
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else { return false }
        reserved.withLock { $0 = true }
        return true
    }

    /// Deletes the reserve file (the volume is full and an outcome must be recorded); false if there was none.
    func releaseReserve() -> Bool {
        let had = reserved.withLock { held -> Bool in
            let had = held
            held = false
            return had
        }
        return unlink(reservePath) == 0 || had
    }

    /// Throws `storageLow` when new money must not be taken: the reserve is used up and cannot be made again,
    /// or the free space (besides the reserve) is under the floor.
    func requireRoomForNewMoney() throws {
        let reserveMissing = reserveBytes > 0 && !ensureReserve()
        let free = freeBytes() ?? Int.max
        guard reserveMissing || free < minimumFreeBytes else { return }
        throw WPWError(
            .storageLow,
            "the state volume is nearly full (\(free) bytes free, \(minimumFreeBytes + (reserveMissing ? reserveBytes : 0)) needed): new quotes and payments are refused until space is freed",
            data: [
                "freeBytes": .int(Int64(free)), "minimumFreeBytes": .int(Int64(minimumFreeBytes)),
                "reserveInPlace": .bool(!reserveMissing),
            ])
    }
}
