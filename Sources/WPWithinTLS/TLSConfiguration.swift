/// The lowest TLS version a context accepts.
public enum TLSVersion: String, Sendable, Hashable {
    case tls1_2 = "1.2"
    case tls1_3 = "1.3"
}

/// Which certificate authorities a client trusts.
public enum TLSTrustRoots: Sendable, Hashable {
    /// The system's store (OpenSSL's default paths, e.g. `/etc/ssl/certs` on Debian).
    case system
    /// Only the certificates of this PEM file (a private CA, a test CA).
    case caFile(String)
}

/// A client's TLS settings. The peer's certificate is always verified: its chain against
/// ``trustRoots`` and its name against the host connected to (DNS name or IP address, subjectAltName).
public struct TLSClientConfiguration: Sendable, Hashable {
    /// At least TLS 1.2.
    public var minimumVersion: TLSVersion
    public var trustRoots: TLSTrustRoots
    /// Offered with ALPN, most preferred first.
    public var applicationProtocols: [String]

    public init(minimumVersion: TLSVersion = .tls1_2, trustRoots: TLSTrustRoots = .system, applicationProtocols: [String] = ["http/1.1"]) {
        self.minimumVersion = minimumVersion
        self.trustRoots = trustRoots
        self.applicationProtocols = applicationProtocols
    }
}

/// A server's TLS settings: its certificate chain and key (PEM files). It does not ask for client
/// certificates and selects `http/1.1` when the client offers it with ALPN.
public struct TLSServerConfiguration: Sendable, Hashable {
    /// The leaf certificate first, then any intermediates (PEM).
    public var certificateChainFile: String
    /// The leaf's private key (PEM, unencrypted).
    public var privateKeyFile: String
    public var minimumVersion: TLSVersion

    public init(certificateChainFile: String, privateKeyFile: String, minimumVersion: TLSVersion = .tls1_2) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.minimumVersion = minimumVersion
    }
}
