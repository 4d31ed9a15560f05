internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the system crypto library (libcrypto).
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public let operation: String
    public init(operation: String) { self.operation = operation }
    public var description: String { "CryptoError: \(operation) failed" }
}

/// Randomness (the kernel's) and constant-time comparison over the system libcrypto (OpenSSL 3).
public enum Crypto {
    /// `count` bytes from the kernel's CSPRNG (`getrandom(2)`, flags 0: blocks only until the pool is first
    /// seeded at boot). Not OpenSSL's `RAND_bytes`: its DRBG is seeded from the same source, and setting it up
    /// loads OpenSSL's provider tables, ≈ 2 MB of resident pages in a daemon that may not need libcrypto
    /// for anything else until its first sale. Throws when the kernel refuses.
    public static func randomBytes(count: Int) throws -> [UInt8] {
        guard count >= 0, count <= Int(Int32.max) else { throw CryptoError(operation: "getrandom (bad count)") }
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                getrandom(buffer.baseAddress! + filled, count - filled, 0)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw CryptoError(operation: "getrandom (errno \(errno))")
            }
            filled += got
        }
        return bytes
    }

    /// Constant-time equality (`CRYPTO_memcmp`) for secrets. Different lengths are unequal (the length
    /// itself is not treated as secret).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0
            }
        }
    }
}

/// SHA-256 (libcrypto's `SHA256`, computed in place: no provider to load; see COpenSSL's shim).
public enum SHA256 {
    public static let byteCount = 32

    public static func digest(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { o in wpw_sha256(input.baseAddress, input.count, o.baseAddress) }
        }
        return out
    }

    public static func digest(_ string: String) -> [UInt8] { digest(Array(string.utf8)) }
}

/// HMAC-SHA256 (RFC 2104) over libcrypto's SHA-256.
public enum HMACSHA256 {
    public static let byteCount = 32

    /// A key prepared once (its inner and outer SHA-256 states) for any number of MACs; wiped when freed.
    public final class Key: @unchecked Sendable {  // immutable after init; MACs work on copies of the states
        private let state = UnsafeMutablePointer<wpw_hmac_sha256_key>.allocate(capacity: 1)

        public init(_ key: [UInt8]) {
            key.withUnsafeBufferPointer { wpw_hmac_sha256_key_init(state, $0.baseAddress, $0.count) }
        }

        deinit {
            wpw_hmac_sha256_key_clear(state)
            state.deallocate()
        }

        public func authenticate(_ data: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: byteCount)
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in wpw_hmac_sha256(state, d.baseAddress, d.count, o.baseAddress) }
            }
            return out
        }

        /// Constant-time check of a presented MAC against the one computed here.
        public func isValid(_ mac: [UInt8], for data: [UInt8]) -> Bool {
            Crypto.equal(authenticate(data), mac)
        }
    }

    public static func authenticate(key: [UInt8], data: [UInt8]) -> [UInt8] {
        Key(key).authenticate(data)
    }

    /// Constant-time check of a presented MAC against the one computed here.
    public static func isValid(_ mac: [UInt8], key: [UInt8], data: [UInt8]) -> Bool {
        Key(key).isValid(mac, for: data)
    }
}
