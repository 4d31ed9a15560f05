internal import COpenSSL

/// A failure of the system crypto library (libcrypto).
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public let operation: String
    public init(operation: String) { self.operation = operation }
    public var description: String { "CryptoError: \(operation) failed" }
}

/// Randomness and constant-time comparison over the system libcrypto (OpenSSL 3).
public enum Crypto {
    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`). Throws when the generator is not seeded or fails.
    public static func randomBytes(count: Int) throws -> [UInt8] {
        guard count >= 0, count <= Int(Int32.max) else { throw CryptoError(operation: "RAND_bytes (bad count)") }
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(count))
        }
        guard result == 1 else { throw CryptoError(operation: "RAND_bytes") }
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

/// SHA-256 through the EVP one-shot digest API (the low-level `SHA256_*` calls are deprecated in OpenSSL 3).
public enum SHA256 {
    public static let byteCount = 32

    public static func digest(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let input = data.isEmpty ? [UInt8(0)] : data  // always a valid pointer; the length says 0
        let ok = input.withUnsafeBytes { i in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(i.baseAddress, data.count, o.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        // EVP_Digest fails only when libcrypto cannot allocate; there is no sane recovery from that here.
        precondition(ok == 1 && length == UInt32(byteCount), "EVP_Digest(SHA-256) failed")
        return Array(out.prefix(Int(length)))
    }

    public static func digest(_ string: String) -> [UInt8] { digest(Array(string.utf8)) }
}

/// HMAC-SHA256 (RFC 2104) through OpenSSL's one-shot `HMAC()`.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func authenticate(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // Never hand HMAC() a NULL pointer (a NULL key means "reuse the previous key" in some APIs).
        let keyBytes = key.isEmpty ? [UInt8(0)] : key
        let dataBytes = data.isEmpty ? [UInt8(0)] : data
        let result = keyBytes.withUnsafeBytes { k in
            dataBytes.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(key.count), d.baseAddress, data.count, o.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == UInt32(byteCount), "HMAC(SHA-256) failed")
        return Array(out.prefix(Int(length)))
    }

    /// Constant-time check of a presented MAC against the one computed here.
    public static func isValid(_ mac: [UInt8], key: [UInt8], data: [UInt8]) -> Bool {
        Crypto.equal(authenticate(key: key, data: data), mac)
    }
}
