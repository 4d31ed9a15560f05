/// A source of unpredictable bytes. Production uses the system CSPRNG (WPWithinCrypto's `SystemRandomBytes`
/// has this shape); tests pass a deterministic source.
public protocol RandomByteSource: Sendable {
    func bytes(count: Int) throws -> [UInt8]
}

/// Identifier helpers shared by quotes, orders and tokens.
public enum Identifiers {
    /// A random (version 4, RFC 4122 variant) UUID in lowercase `8-4-4-4-12` form, as Go order lookups
    /// are case-sensitive. Uses 16 bytes from `random`.
    public static func uuid(from random: some RandomByteSource) throws -> String {
        var b = try random.bytes(count: 16)
        guard b.count == 16 else { throw WPWError(.internalError, "random source returned \(b.count) bytes, wanted 16") }
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        let hex = lowercaseHex(b)
        let chars = Array(hex)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
            + String(chars[16..<20]) + "-" + String(chars[20..<32])
    }

    /// True for a 36-character `8-4-4-4-12` hex UUID of any case, version or variant (Go's gouuid emits
    /// variant nibbles 4–7, which must be accepted).
    public static func isUUID(_ string: String) -> Bool {
        let u = Array(string.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return false }
            } else {
                guard hexValue(c) != nil else { return false }
            }
        }
        return true
    }

    public static func lowercaseHex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an even-length hex string (either case); nil for anything else.
    public static func bytes(fromHex text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
