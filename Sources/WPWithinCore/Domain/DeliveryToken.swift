/// A service delivery token as the producer issues and stores it. On the wire it keeps the Go keys
/// `key`, `issued`, `expiry`, `refundOnExpiry`, `signature` so Go consumers echo it back unchanged.
public struct DeliveryToken: Sendable, Hashable {
    /// 256 random bits as 64 lowercase hex digits; unrelated to the payment reference.
    public let key: String
    public let issued: Instant
    public let expiry: Instant
    /// Carried for compatibility; no refund logic exists.
    public let refundOnExpiry: Bool
    /// HMAC-SHA256 of `TokenClaims.signingInput` under the producer's key.
    public let signature: [UInt8]

    public static let keyByteCount = 32

    public init(key: String, issued: Instant, expiry: Instant, refundOnExpiry: Bool, signature: [UInt8]) {
        self.key = key
        self.issued = issued
        self.expiry = expiry
        self.refundOnExpiry = refundOnExpiry
        self.signature = signature
    }

    /// Issues a token for a paid quote: a fresh random key, `expiry = now + ttl`, signed over the claims.
    public static func issue(
        for quote: Quote, now: Instant, ttl: Duration, refundOnExpiry: Bool = false,
        random: some RandomByteSource, signer: some TokenSigner
    ) throws -> DeliveryToken {
        guard ttl > .zero else { throw WPWError.invalidParams(field: "ttl", "token lifetime must be positive") }
        let bytes = try random.bytes(count: keyByteCount)
        guard bytes.count == keyByteCount else {
            throw WPWError(.internalError, "random source returned \(bytes.count) bytes, wanted \(keyByteCount)")
        }
        guard let expiry = now.adding(ttl) else { throw WPWError.invalidParams(field: "ttl", "token expiry overflows") }
        let claims = TokenClaims(
            key: Identifiers.lowercaseHex(bytes), quote: quote, issued: now, expiry: expiry, refundOnExpiry: refundOnExpiry)
        return DeliveryToken(
            key: claims.key, issued: now, expiry: expiry, refundOnExpiry: refundOnExpiry,
            signature: signer.sign(claims.signingInput))
    }

    // The Go producer's messages (they travel as ErrorResponse.message with HTTP 400/404).
    public static let orderNotFound = WPWError(.notFound, "Order not found for ServiceDeliveryToken")
    public static let invalidKey = WPWError(.invalidToken, "Invalid ServiceDeliveryToken key")
    public static let invalidSignature = WPWError(.invalidToken, "Invalid ServiceDeliveryToken signature")
    public static let clientMismatch = WPWError(.invalidToken, "ServiceDeliveryToken was not issued to this client")
    public static let hasExpired = WPWError(.expired, "ServiceDeliveryToken has expired")
    public static let wrongService = WPWError(.notFound, "Could not deliver service. Please contact service provider.")
}

/// What a client presents: only the key and the signature are ever trusted, and only after they match the
/// producer's stored order. The presented `issued`/`expiry`/`refundOnExpiry` are carried for echoing and
/// never consulted (Go wrappers over Thrift shift times by the UTC offset and drop fractions, §8.3).
public struct PresentedToken: Sendable, Hashable {
    public let key: String
    /// nil when the JSON had `"signature":null` (tokens from a Go producer).
    public let signature: [UInt8]?
    public let issued: Instant
    public let expiry: Instant
    public let refundOnExpiry: Bool

    public init(key: String, signature: [UInt8]?, issued: Instant = .goZero, expiry: Instant = .goZero, refundOnExpiry: Bool = false) {
        self.key = key
        self.signature = signature
        self.issued = issued
        self.expiry = expiry
        self.refundOnExpiry = refundOnExpiry
    }

    public init(_ token: DeliveryToken) {
        self.init(key: token.key, signature: token.signature, issued: token.issued, expiry: token.expiry,
                  refundOnExpiry: token.refundOnExpiry)
    }
}

/// The facts a token signature binds, taken from the producer's own order.
///
/// `signingInput` is a canonical, unambiguous byte string (every variable-length field is length-prefixed):
///
///     lp("wpwithin/delivery-token/v1")
///     lp(key) lp(serverID) lp(clientID) lp(paymentReferenceID)
///     i64(serviceID) i64(priceID) i64(units)
///     i64(issued.seconds) u32(issued.nanoseconds)
///     i64(expiry.seconds) u32(expiry.nanoseconds)
///     u8(refundOnExpiry ? 1 : 0)
///
/// where `lp(s)` = u32 big-endian byte count of the UTF-8 of `s`, then those bytes; `i64`/`u32` are
/// big-endian two's complement; seconds are since the Unix epoch (UTC).
public struct TokenClaims: Sendable, Hashable {
    public static let domain = "wpwithin/delivery-token/v1"

    public let key: String
    public let serverID: String
    public let clientID: String
    public let paymentReferenceID: String
    public let serviceID: Int
    public let priceID: Int
    public let units: Int
    public let issued: Instant
    public let expiry: Instant
    public let refundOnExpiry: Bool

    public init(
        key: String, serverID: String, clientID: String, paymentReferenceID: String, serviceID: Int, priceID: Int,
        units: Int, issued: Instant, expiry: Instant, refundOnExpiry: Bool
    ) {
        self.key = key
        self.serverID = serverID
        self.clientID = clientID
        self.paymentReferenceID = paymentReferenceID
        self.serviceID = serviceID
        self.priceID = priceID
        self.units = units
        self.issued = issued
        self.expiry = expiry
        self.refundOnExpiry = refundOnExpiry
    }

    public init(key: String, quote: Quote, issued: Instant, expiry: Instant, refundOnExpiry: Bool) {
        self.init(
            key: key, serverID: quote.serverID, clientID: quote.clientID, paymentReferenceID: quote.paymentReferenceID,
            serviceID: quote.serviceID, priceID: quote.priceID, units: quote.units, issued: issued, expiry: expiry,
            refundOnExpiry: refundOnExpiry)
    }

    public var signingInput: [UInt8] {
        var out: [UInt8] = []
        func lp(_ s: String) {
            let bytes = Array(s.utf8)
            u32(UInt32(truncatingIfNeeded: bytes.count))
            out += bytes
        }
        func u32(_ v: UInt32) { for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) } }
        func i64(_ v: Int64) {
            let u = UInt64(bitPattern: v)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: u >> UInt64(shift))) }
        }
        lp(Self.domain)
        lp(key); lp(serverID); lp(clientID); lp(paymentReferenceID)
        i64(Int64(serviceID)); i64(Int64(priceID)); i64(Int64(units))
        i64(issued.secondsSinceEpoch); u32(UInt32(issued.nanoseconds))
        i64(expiry.secondsSinceEpoch); u32(UInt32(expiry.nanoseconds))
        out.append(refundOnExpiry ? 1 : 0)
        return out
    }
}
