/// Signs and verifies delivery-token claims. The producer holds the key; the core never sees it and never
/// links a crypto library. WPWithinCrypto's `HMACTokenSigner` (HMAC-SHA256) has exactly this shape.
public protocol TokenSigner: Sendable {
    /// The MAC/signature of `message`.
    func sign(_ message: [UInt8]) -> [UInt8]
    /// Whether `signature` is valid for `message`; must compare in constant time.
    func verify(_ signature: [UInt8], for message: [UInt8]) -> Bool
}

/// A `TokenSigner` made of closures, for wiring a signer from a module that cannot conform directly.
public struct ClosureTokenSigner: TokenSigner {
    private let signBody: @Sendable ([UInt8]) -> [UInt8]
    private let verifyBody: @Sendable ([UInt8], [UInt8]) -> Bool

    public init(
        sign: @escaping @Sendable ([UInt8]) -> [UInt8],
        verify: @escaping @Sendable (_ signature: [UInt8], _ message: [UInt8]) -> Bool
    ) {
        self.signBody = sign
        self.verifyBody = verify
    }

    public func sign(_ message: [UInt8]) -> [UInt8] { signBody(message) }
    public func verify(_ signature: [UInt8], for message: [UInt8]) -> Bool { verifyBody(signature, message) }
}

/// Constant-time helpers that need no crypto library.
public enum ConstantTime {
    /// Compares two byte strings without an early exit on the first difference. Lengths are not secret.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    public static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }
}
