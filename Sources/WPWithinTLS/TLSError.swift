import COpenSSL

/// Why a TLS context could not be built or a TLS connection failed. ``code`` is stable (tests, logs and
/// the payments layer match on it); ``detail`` carries OpenSSL's own words and may change between versions.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The configuration cannot be used: a CA, certificate or key file is missing or unreadable, the
        /// key does not match the certificate, a setting is refused by the library.
        case invalidConfiguration
        /// The server's certificate does not chain to a trusted root (unknown or self-signed issuer).
        case certificateUntrusted
        /// The server's certificate (or one in its chain) has expired.
        case certificateExpired
        /// The server's certificate (or one in its chain) is not valid yet.
        case certificateNotYetValid
        /// The server's certificate is not for the host name or IP address connected to.
        case hostnameMismatch
        /// The server's certificate was refused for another reason (revoked, bad signature, wrong purpose…).
        case certificateInvalid
        /// The handshake failed (no common version or cipher, an alert from the peer, garbage instead of TLS).
        case handshakeFailed
        /// The connection closed before the handshake completed.
        case closedDuringHandshake
        /// A TLS protocol error after the handshake (bad record, alert).
        case protocolError
        /// The peer closed the TCP connection without a TLS close_notify (possible truncation).
        case uncleanShutdown
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// True for the errors of a handshake that did not complete: no application data was sent.
    public var isHandshakeFailure: Bool {
        switch code {
        case .protocolError, .uncleanShutdown, .invalidConfiguration: false
        default: true
        }
    }

    public var description: String { "TLSError.\(code.rawValue)" + (detail.isEmpty ? "" : ": \(detail)") }

    /// The certificate verification failure `result` (an `X509_V_ERR_*` value) as an error.
    static func verification(_ result: Int) -> TLSError {
        let text = X509_verify_cert_error_string(result).map { String(cString: $0) } ?? "verification failed"
        let detail = "\(text) (X509_V_ERR \(result))"
        switch Int32(result) {
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CRL_HAS_EXPIRED:
            return TLSError(.certificateExpired, detail)
        case X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CRL_NOT_YET_VALID:
            return TLSError(.certificateNotYetValid, detail)
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TLSError(.hostnameMismatch, detail)
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return TLSError(.certificateUntrusted, detail)
        default:
            return TLSError(.certificateInvalid, detail)
        }
    }

    /// Drains this thread's OpenSSL error queue into one line (`what: reason; reason`).
    static func drainQueue(_ what: String) -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if reasons.count < 4 { reasons.append(text) }
        }
        return reasons.isEmpty ? what : what + ": " + reasons.joined(separator: "; ")
    }
}
