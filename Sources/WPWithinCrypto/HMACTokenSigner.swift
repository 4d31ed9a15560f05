/// The producer's delivery-token signer: HMAC-SHA256 under a secret key that never leaves the producer.
///
/// Its `sign(_:)` / `verify(_:for:)` shape is WPWithinCore's `TokenSigner` requirement; the module that
/// wires the daemon (it sees both modules) declares the conformance, so this target stays free of the core.
public struct HMACTokenSigner: Sendable {
    /// Minimum key length: the HMAC-SHA256 output size (RFC 2104 §3 recommends at least L bytes).
    public static let minimumKeyLength = 32

    private let key: HMACSHA256.Key

    /// Throws when the key is shorter than `minimumKeyLength` bytes.
    public init(key: [UInt8]) throws {
        guard key.count >= Self.minimumKeyLength else { throw CryptoError(operation: "HMACTokenSigner key too short") }
        self.key = HMACSHA256.Key(key)
    }

    /// A fresh signer key from the CSPRNG, to be stored by the daemon (mode 0600) and reused across restarts.
    public static func generateKey() throws -> [UInt8] {
        try Crypto.randomBytes(count: minimumKeyLength)
    }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        key.authenticate(message)
    }

    /// Constant-time comparison of `signature` with the MAC of `message`.
    public func verify(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValid(signature, for: message)
    }
}

/// The system CSPRNG as a byte source (shape of WPWithinCore's `RandomByteSource`).
public struct SystemRandomBytes: Sendable {
    public init() {}
    public func bytes(count: Int) throws -> [UInt8] { try Crypto.randomBytes(count: count) }
}
