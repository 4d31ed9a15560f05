import COpenSSL
import NIOCore

/// Fired inbound (a user event), and the value of the handshake promise, when a ``TLSHandler``'s handshake
/// completed and (on a client) the server's certificate passed verification.
public struct TLSHandshakeCompleted: Sendable, Hashable {
    /// The protocol selected with ALPN (`http/1.1`), if the peer selected one.
    public let negotiatedProtocol: String?
    /// `TLSv1.2`, `TLSv1.3`.
    public let version: String
}

/// TLS over a NIO channel with the system's libssl: an `SSL` driven through two memory BIOs. Encrypted
/// bytes come in as `ByteBuffer`s and go up as plaintext; plaintext written from behind it goes out encrypted.
///
/// * A client starts the handshake as soon as the channel is active; a server waits for the client hello.
/// * Plaintext written before the handshake completed is held, and failed if the handshake fails: **nothing
///   written from behind this handler leaves the process before a verified handshake.** The handshake
///   promise (given at init) completes with ``TLSHandshakeCompleted`` or fails with a ``TLSError`` (certificate
///   refused, handshake failure, connection closed); a client waits for it before writing its request.
/// * Closing sends a `close_notify` first (after the handshake); a `close_notify` received closes the channel.
///   A peer that closes TCP without one after the handshake is reported as ``TLSError/Code/uncleanShutdown``
///   (`errorCaught`), so a truncated read-until-close body is not taken for a complete one.
/// * Errors after the handshake are fired as ``TLSError``s and close the connection.
///
/// Runs on its channel's event loop only.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// A server before the first bytes, a client before the channel is active.
        case idle
        case handshaking
        case established
        /// Closed, failed, or close_notify sent: nothing more goes through.
        case closed
    }

    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private let isClient: Bool
    private var state = State.idle
    private var handshakePromise: EventLoopPromise<TLSHandshakeCompleted>?
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var receivedCloseNotify = false
    /// Our close_notify went out (or the output was closed): nothing more is written.
    private var outputClosed = false

    /// A client connection to `serverHostname` (a DNS name, or an IPv4/IPv6 address without brackets): SNI
    /// for a name, and the certificate must match the name (or the address).
    public convenience init(
        client context: TLSClientContext, serverHostname: String, handshakePromise: EventLoopPromise<TLSHandshakeCompleted>? = nil
    ) throws(TLSError) {
        try self.init(context: context.handle, isClient: true, handshakePromise: handshakePromise)
        var host = serverHostname
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw TLSError(.invalidConfiguration, "empty server host name") }
        SSL_set_connect_state(ssl)
        guard let parameters = SSL_get0_param(ssl) else { throw TLSError(.invalidConfiguration, "no verification parameters") }
        X509_VERIFY_PARAM_set_hostflags(parameters, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        ERR_clear_error()
        if (try? SocketAddress(ipAddress: host, port: 0)) != nil {
            // RFC 6066: no SNI for an address; the certificate must name the address (iPAddress SAN).
            guard X509_VERIFY_PARAM_set1_ip_asc(parameters, host) == 1 else {
                throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot verify against address \(host)"))
            }
        } else {
            guard X509_VERIFY_PARAM_set1_host(parameters, host, 0) == 1, wpw_ssl_set_tlsext_host_name(ssl, host) == 1 else {
                throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot verify against host name \(host)"))
            }
        }
    }

    /// A server connection.
    public convenience init(server context: TLSServerContext, handshakePromise: EventLoopPromise<TLSHandshakeCompleted>? = nil) throws(TLSError) {
        try self.init(context: context.handle, isClient: false, handshakePromise: handshakePromise)
        SSL_set_accept_state(ssl)
    }

    private init(context: SSLContextHandle, isClient: Bool, handshakePromise: EventLoopPromise<TLSHandshakeCompleted>?) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot create an SSL connection"))
        }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, TLSError.drainQueue("cannot create memory BIOs"))
        }
        wpw_bio_set_mem_retry_when_empty(readBIO)
        wpw_bio_set_mem_retry_when_empty(writeBIO)
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both from here
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.isClient = isClient
        self.handshakePromise = handshakePromise
    }

    deinit {
        SSL_free(ssl)
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if isClient && context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failHandshake(TLSError(.closedDuringHandshake, "the TLS handler was removed"))
        failPendingWrites(ChannelError.ioOnClosedChannel)
    }

    public func channelActive(context: ChannelHandlerContext) {
        if isClient { startHandshake(context: context) }
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let wasEstablished = state == .established
        state = .closed
        failHandshake(TLSError(.closedDuringHandshake, "the connection closed during the TLS handshake"))
        failPendingWrites(ChannelError.ioOnClosedChannel)
        if wasEstablished && !receivedCloseNotify {
            context.fireErrorCaught(TLSError(.uncleanShutdown, "the peer closed the connection without a close_notify"))
        }
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .closed else { return }
        let buffer = unwrapInboundIn(data)
        let count = buffer.readableBytes
        let written = buffer.withUnsafeReadableBytes { BIO_write(readBIO, $0.baseAddress, Int32($0.count)) }
        guard count == 0 || Int(written) == count else {
            fail(context: context, TLSError(.protocolError, TLSError.drainQueue("cannot buffer received bytes")))
            return
        }
        switch state {
        case .idle, .handshaking:
            state = .handshaking
            handshake(context: context)
        case .established:
            readPlaintext(context: context)
        case .closed:
            break
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .closed, !outputClosed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        pendingWrites.append((unwrapOutboundIn(data), promise))
    }

    public func flush(context: ChannelHandlerContext) {
        // Before the handshake completed, writes wait (they are sent, or failed, when it ends).
        if state == .established { encryptPendingWrites(context: context) }
    }

    /// Closing everything or the output sends our close_notify first (once the handshake completed); the
    /// peer's is not awaited.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode != .input else {
            context.close(mode: mode, promise: promise)
            return
        }
        let sendCloseNotify = state == .established && !outputClosed
        outputClosed = true
        if mode == .all {
            state = .closed
            failHandshake(TLSError(.closedDuringHandshake, "the connection was closed during the TLS handshake"))
        }
        failPendingWrites(ChannelError.ioOnClosedChannel)
        var alert: ByteBuffer?
        if sendCloseNotify {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            ERR_clear_error()
            alert = drainOutput(allocator: context.channel.allocator)
        }
        guard let alert else {
            context.close(mode: mode, promise: promise)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(alert)).whenComplete { _ in
            bound.value.close(mode: mode, promise: promise)
        }
    }

    // MARK: Machinery

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        handshake(context: context)
    }

    private func handshake(context: ChannelHandlerContext) {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        guard result == 1 else {
            let error = SSL_get_error(ssl, result)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                flushOutput(context: context)
                return
            }
            let failure = handshakeFailure(error)
            flushOutput(context: context)  // our alert, if any
            fail(context: context, failure)
            return
        }
        flushOutput(context: context)
        state = .established
        var selected: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &selected, &length)
        let negotiated = selected.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let completed = TLSHandshakeCompleted(negotiatedProtocol: negotiated, version: version)
        let promise = handshakePromise
        handshakePromise = nil
        promise?.succeed(completed)
        context.fireUserInboundEventTriggered(completed)
        guard state == .established else { return }
        encryptPendingWrites(context: context)
        readPlaintext(context: context)  // application data that came with the last handshake flight
    }

    private func handshakeFailure(_ error: Int32) -> TLSError {
        if isClient {
            let verification = SSL_get_verify_result(ssl)
            if verification != X509_V_OK {
                ERR_clear_error()
                return TLSError.verification(verification)
            }
        }
        if error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN {
            return TLSError(.handshakeFailed, TLSError.drainQueue("the peer ended the handshake"))
        }
        return TLSError(.handshakeFailed, TLSError.drainQueue("TLS handshake failed"))
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        var plaintext = context.channel.allocator.buffer(capacity: 0)
        var failure: TLSError?
        while true {
            ERR_clear_error()
            var result: Int32 = 0
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { pointer in
                result = SSL_read(ssl, pointer.baseAddress, Int32(pointer.count))
                return result > 0 ? Int(result) : 0
            }
            if result > 0 { continue }
            let error = SSL_get_error(ssl, result)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { break }
            if error == SSL_ERROR_ZERO_RETURN {
                receivedCloseNotify = true
            } else {
                failure = TLSError(.protocolError, TLSError.drainQueue("TLS read failed"))
            }
            break
        }
        flushOutput(context: context)
        if plaintext.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(plaintext))
            context.fireChannelReadComplete()
        }
        if let failure {
            fail(context: context, failure)
        } else if receivedCloseNotify, state == .established {
            close(context: context, mode: .all, promise: nil)  // answers with our close_notify
        }
    }

    private func encryptPendingWrites(context: ChannelHandlerContext) {
        guard !pendingWrites.isEmpty else { return }
        let writes = pendingWrites
        pendingWrites = []
        for (index, (buffer, promise)) in writes.enumerated() {
            guard buffer.readableBytes > 0 else {
                context.write(wrapOutboundOut(buffer), promise: promise)
                continue
            }
            ERR_clear_error()
            let result = buffer.withUnsafeReadableBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard result > 0 else {
                let error = TLSError(.protocolError, TLSError.drainQueue("TLS write failed"))
                promise?.fail(error)
                for (_, later) in writes[(index + 1)...] { later?.fail(error) }
                fail(context: context, error)
                return
            }
            let ciphertext = drainOutput(allocator: context.channel.allocator) ?? context.channel.allocator.buffer(capacity: 0)
            context.write(wrapOutboundOut(ciphertext), promise: promise)
        }
        context.flush()
    }

    /// What OpenSSL queued to send (handshake messages, records, alerts), if anything.
    private func drainOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = Int(BIO_ctrl_pending(writeBIO))
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { pointer in
            Int(max(0, BIO_read(writeBIO, pointer.baseAddress, Int32(pending))))
        }
        return buffer
    }

    private func flushOutput(context: ChannelHandlerContext) {
        if let output = drainOutput(allocator: context.channel.allocator) {
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
        }
    }

    /// The connection cannot go on: fail what waits, report the error, close.
    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else { return }
        state = .closed
        failHandshake(error)
        failPendingWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failHandshake(_ error: TLSError) {
        guard let promise = handshakePromise else { return }
        handshakePromise = nil
        promise.fail(error)
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        for (_, promise) in writes { promise?.fail(error) }
    }
}
