import COpenSSL

/// An `SSL_CTX` shared by the connections of one side. Configured once in `init`, then only used to create
/// `SSL` objects, which OpenSSL allows from any thread.
final class SSLContextHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(server: Bool, minimumVersion: TLSVersion) throws(TLSError) {
        ERR_clear_error()
        guard let method = server ? TLS_server_method() : TLS_client_method(), let ctx = SSL_CTX_new(method) else {
            throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot create an SSL context"))
        }
        pointer = ctx
        let version = minimumVersion == .tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION
        try Self.check(wpw_ssl_ctx_set_min_proto_version(ctx, version), "cannot set the minimum TLS version")
        wpw_ssl_ctx_set_safe_options(ctx)
    }

    /// Throws `invalidConfiguration` with OpenSSL's reasons unless `result` is 1 (OpenSSL's success).
    static func check(_ result: Int32, _ what: @autoclosure () -> String) throws(TLSError) {
        guard result == 1 else { throw TLSError(.invalidConfiguration, TLSError.drainQueue(what())) }
    }

    deinit { SSL_CTX_free(pointer) }
}

/// The client side of TLS, built from a ``TLSClientConfiguration``: loads the trust anchors (reads files:
/// build it once, off the event loops, and share it). Create a ``TLSHandler`` per connection from it.
public final class TLSClientContext: Sendable {
    public let configuration: TLSClientConfiguration
    let handle: SSLContextHandle

    public init(configuration: TLSClientConfiguration) throws(TLSError) {
        self.configuration = configuration
        handle = try SSLContextHandle(server: false, minimumVersion: configuration.minimumVersion)
        let ctx = handle.pointer
        switch configuration.trustRoots {
        case .system: try SSLContextHandle.check(SSL_CTX_set_default_verify_paths(ctx), "cannot load the system trust store")
        case .caFile(let path): try SSLContextHandle.check(SSL_CTX_load_verify_file(ctx, path), "cannot load CA file \(path)")
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if !configuration.applicationProtocols.isEmpty {
            var wire: [UInt8] = []
            for name in configuration.applicationProtocols {
                let bytes = Array(name.utf8)
                guard (1...255).contains(bytes.count) else {
                    throw TLSError(.invalidConfiguration, "ALPN protocol name must be 1 to 255 bytes: \(name)")
                }
                wire.append(UInt8(bytes.count))
                wire += bytes
            }
            // Returns 0 on success (unlike most of the API).
            guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot set ALPN protocols"))
            }
        }
    }
}

/// The server side of TLS, built from a ``TLSServerConfiguration``: loads the certificate chain and key and
/// checks that they match.
public final class TLSServerContext: Sendable {
    public let configuration: TLSServerConfiguration
    let handle: SSLContextHandle

    public init(configuration: TLSServerConfiguration) throws(TLSError) {
        self.configuration = configuration
        handle = try SSLContextHandle(server: true, minimumVersion: configuration.minimumVersion)
        let ctx = handle.pointer
        let (certificate, key) = (configuration.certificateChainFile, configuration.privateKeyFile)
        try SSLContextHandle.check(SSL_CTX_use_certificate_chain_file(ctx, certificate), "cannot load certificate file \(certificate)")
        try SSLContextHandle.check(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), "cannot load key file \(key)")
        try SSLContextHandle.check(SSL_CTX_check_private_key(ctx), "the key does not match the certificate")
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        wpw_ssl_ctx_select_alpn_http11(ctx)
    }
}
