import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import WPWithinTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 client for `http://` and `https://` on SwiftNIO, for HTE calls between devices and the
/// payment gateway (the loopback sandbox or the real API).
///
/// * `https://`: a ``TLSHandler`` (system libssl) sits before the HTTP codec; the server's certificate is
///   verified against ``HTTPClientConfiguration/tls`` (trust anchors, host name or address). The request is
///   written only once the handshake completed and verification passed, so a TLS failure is
///   ``HTTPClientError/Kind/tls`` with `mayHaveReachedServer == false`. Everything else (pool, keep-alive,
///   limits) is the same code path as `http://`.
/// * One request at a time per connection; connections are pooled per `scheme://host:port` with keep-alive. A
///   connection that fails in any way is closed and never reused. At most
///   ``HTTPClientConfiguration/maxConnectionsPerHost`` requests hold a connection to one host at a time;
///   more wait in arrival order (``HTTPClientPermits``), within their own timeout. At most
///   ``HTTPClientConfiguration/maxIdleConnectionsPerHost`` idle connections are kept per host (released
///   extras are closed).
/// * Each request has a total timeout (connect + write + whole response); the connect itself is also
///   bounded by ``HTTPClientConfiguration/connectTimeout``.
/// * Responses are aggregated up to ``HTTPClientConfiguration/maxResponseBodySize`` bytes; beyond that the
///   request fails with `responseTooLarge` and the connection is closed, so memory stays bounded.
/// * A request is never sent twice: the client does not retry. Errors say whether the server may have
///   seen the request (``HTTPClientError/mayHaveReachedServer``); the caller decides.
///
/// Uses `MultiThreadedEventLoopGroup.singleton` by default; nothing is allocated per request beyond the
/// request's own buffers and one promise.
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let state: NIOLockedValueBox<PoolState>
    /// Built on the first `https://` request (loading the trust store reads files), then shared.
    private let tlsContext = NIOLockedValueBox<Result<TLSClientContext, TLSError>?>(nil)

    private struct IdleConnection {
        let channel: any Channel
        let since: NIODeadline
    }

    private struct Waiter {
        let continuation: CheckedContinuation<Void, any Error>
        let timeout: Scheduled<Void>
    }

    private struct PoolState {
        var idle: [String: [IdleConnection]] = [:]
        var open: [ObjectIdentifier: any Channel] = [:]
        var isShutdown = false
        var statistics = HTTPClientStatistics()
        var permits: HTTPClientPermits
        var nextWaiter: UInt64 = 0
        /// Queued requests whose continuation is registered.
        var waiters: [UInt64: Waiter] = [:]
        /// Queued requests given a permit, or an error, before their continuation was registered.
        var settledEarly: [UInt64: HTTPClientError?] = [:]
    }

    public init(
        configuration: HTTPClientConfiguration = HTTPClientConfiguration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(PoolState(permits: HTTPClientPermits(limit: configuration.maxConnectionsPerHost)))
    }

    /// Counters since creation, and the connections open and idle now.
    public var statistics: HTTPClientStatistics {
        state.withLockedValue { state in
            var s = state.statistics
            s.openConnections = state.open.count
            s.idleConnections = state.idle.values.reduce(0) { $0 + $1.count }
            return s
        }
    }

    /// Sends `request` and returns the complete response (any status). Throws ``HTTPClientError``.
    ///
    /// `Host` is set from the URL unless given; `Content-Length` is always set for a body (and `0` for a
    /// bodiless POST/PUT/PATCH). Cancelling the calling task abandons the request and closes its connection.
    public func execute(_ request: HTTPClientRequest, timeout: Duration) async throws(HTTPClientError) -> HTTPClientResponse {
        let target = try HTTPClientTarget(url: request.url)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let key = target.poolKey
        try await acquirePermit(key, deadline: deadline)
        let result: Result<HTTPClientResponse, HTTPClientError>
        do throws(HTTPClientError) {
            result = .success(try await send(request, to: target, deadline: deadline))
        } catch {
            result = .failure(error)
        }
        releasePermit(key)
        return try result.get()
    }

    private func send(
        _ request: HTTPClientRequest, to target: HTTPClientTarget, deadline: NIODeadline
    ) async throws(HTTPClientError) -> HTTPClientResponse {
        let channel = try await connection(to: target, deadline: deadline)

        var headers = HTTPHeaders()
        var hasHost = false
        for field in request.headers {
            if field.name.caseInsensitiveEquals("content-length") || field.name.caseInsensitiveEquals("transfer-encoding") { continue }
            if field.name.caseInsensitiveEquals("host") { hasHost = true }
            headers.add(name: field.name, value: field.value)
        }
        if !hasHost { headers.add(name: "Host", value: target.hostHeader) }
        let bodyMethod = request.method == "POST" || request.method == "PUT" || request.method == "PATCH"
        if !request.body.isEmpty || bodyMethod {
            headers.add(name: "Content-Length", value: String(request.body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: target.uri, headers: headers)
        let body = request.body.isEmpty ? nil : channel.allocator.buffer(bytes: request.body)
        let promise = channel.eventLoop.makePromise(of: HTTPClientCompletion.self)
        let exchange = HTTPClientExchange(
            head: head, body: body, deadline: deadline, maxBodySize: configuration.maxResponseBodySize, promise: promise)
        // If the write never reaches the handler (the channel closed meanwhile), fail the exchange here;
        // completing an already completed promise is a no-op.
        channel.writeAndFlush(exchange).whenFailure { error in
            let unsent = (error as? ChannelError) == .ioOnClosedChannel
            promise.fail(HTTPClientError(.connectionClosed, mayHaveReachedServer: !unsent, detail: "write failed: \(error)"))
        }

        let completion: HTTPClientCompletion
        do {
            completion = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                channel.triggerUserOutboundEvent(HTTPClientCancelEvent(), promise: nil)
            }
        } catch let error as HTTPClientError {
            forget(channel)
            throw error
        } catch {
            forget(channel)
            throw HTTPClientError(.connectionClosed, mayHaveReachedServer: true, detail: "\(error)")
        }
        release(channel, key: target.poolKey, reusable: completion.reusable)
        return completion.response
    }

    /// Closes every connection (requests in flight fail with `connectionClosed`); later requests fail
    /// with `shutdown`.
    public func shutdown() async {
        let (channels, waiters) = state.withLockedValue { state -> ([any Channel], [Waiter]) in
            state.isShutdown = true
            state.idle = [:]
            let all = Array(state.open.values)
            state.open = [:]
            var waiters: [Waiter] = []
            for id in state.permits.removeAllWaiters() {
                if let waiter = state.waiters.removeValue(forKey: id) {
                    waiters.append(waiter)
                } else {
                    state.settledEarly[id] = HTTPClientError(.shutdown, mayHaveReachedServer: false, detail: "client is shut down")
                }
            }
            return (all, waiters)
        }
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.continuation.resume(throwing: HTTPClientError(.shutdown, mayHaveReachedServer: false, detail: "client is shut down"))
        }
        for channel in channels {
            try? await channel.close()
        }
        logger.debug("HTTP client shut down", metadata: ["http.client.closed": "\(channels.count)"])
    }

    // MARK: Permits

    /// Takes a permit for `key` (``HTTPClientPermits``), waiting in line while every permit is taken, until
    /// `deadline` (then `timeout`, nothing sent) or the task's cancellation (`cancelled`, nothing sent).
    private func acquirePermit(_ key: String, deadline: NIODeadline) async throws(HTTPClientError) {
        let admitted = state.withLockedValue { state -> (granted: Bool, id: UInt64)? in
            guard !state.isShutdown else { return nil }
            state.nextWaiter &+= 1
            let id = state.nextWaiter
            let granted = state.permits.acquire(key, waiter: id)
            if !granted { state.statistics.requestsQueued += 1 }
            return (granted, id)
        }
        guard let (granted, id) = admitted else {
            throw HTTPClientError(.shutdown, mayHaveReachedServer: false, detail: "client is shut down")
        }
        if granted { return }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let timeout = eventLoopGroup.any().scheduleTask(deadline: deadline) { [weak self] in
                        guard let self else { return }
                        self.abandonWaiter(key, id, HTTPClientError(
                            .timeout, mayHaveReachedServer: false, detail: "no connection to \(key) was free before the deadline"))
                    }
                    let early = state.withLockedValue { state -> HTTPClientError?? in
                        if let settled = state.settledEarly.removeValue(forKey: id) { return .some(settled) }
                        state.waiters[id] = Waiter(continuation: continuation, timeout: timeout)
                        return .none
                    }
                    switch early {
                    case .none: break
                    case .some(.none): timeout.cancel(); continuation.resume()
                    case .some(.some(let error)): timeout.cancel(); continuation.resume(throwing: error)
                    }
                }
            } onCancel: {
                abandonWaiter(key, id, HTTPClientError(.cancelled, mayHaveReachedServer: false, detail: "cancelled while waiting for a connection"))
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw HTTPClientError(.cancelled, mayHaveReachedServer: false, detail: "\(error)")
        }
    }

    /// A request is done with its connection: its permit goes to the first waiter for `key`, if any.
    private func releasePermit(_ key: String) {
        let next = state.withLockedValue { state -> Waiter? in
            guard let id = state.permits.release(key) else { return nil }
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.settledEarly[id] = .some(nil)
                return nil
            }
            return waiter
        }
        if let next {
            next.timeout.cancel()
            next.continuation.resume()
        }
    }

    /// A waiter gives up (deadline, cancellation). If it had already been handed a permit, nothing happens
    /// here: it goes on with the permit and gives it back when done.
    private func abandonWaiter(_ key: String, _ id: UInt64, _ error: HTTPClientError) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard state.permits.abandon(key, waiter: id) else { return nil }
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.settledEarly[id] = .some(error)
                return nil
            }
            return waiter
        }
        if let waiter {
            waiter.timeout.cancel()
            waiter.continuation.resume(throwing: error)
        }
    }

    // MARK: Pool

    private func connection(to target: HTTPClientTarget, deadline: NIODeadline) async throws(HTTPClientError) -> any Channel {
        let now = NIODeadline.now()
        let maxIdle = TimeAmount(configuration.idleTimeout)
        let key = target.poolKey
        let (isShutdown, reused, stale) = state.withLockedValue { state -> (Bool, (any Channel)?, [any Channel]) in
            guard !state.isShutdown else { return (true, nil, []) }
            state.statistics.requests += 1
            var stale: [any Channel] = []
            while var list = state.idle[key], let last = list.popLast() {
                state.idle[key] = list.isEmpty ? nil : list
                if last.channel.isActive && now - last.since < maxIdle {
                    state.statistics.connectionsReused += 1
                    return (false, last.channel, stale)
                }
                state.open[ObjectIdentifier(last.channel)] = nil
                stale.append(last.channel)
            }
            return (false, nil, stale)
        }
        guard !isShutdown else { throw HTTPClientError(.shutdown, mayHaveReachedServer: false, detail: "client is shut down") }
        for channel in stale { channel.close(promise: nil) }
        if let reused { return reused }

        let remaining = deadline - now
        guard remaining > .zero else { throw HTTPClientError(.timeout, mayHaveReachedServer: false, detail: "deadline passed before connecting") }
        let connectTimeout = min(TimeAmount(configuration.connectTimeout), remaining)
        let tls = target.isTLS ? try clientTLSContext(peer: key) : nil
        let loop = eventLoopGroup.next()
        let handshake = tls.map { _ in loop.makePromise(of: TLSHandshakeCompleted.self) }
        let host = target.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(TLSHandler(client: tls, serverHostname: host, handshakePromise: handshake)) }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(HTTPClientChannelHandler())
                }
            }
        let channel: any Channel
        do {
            if let address = try? SocketAddress(ipAddress: target.host, port: target.port) {
                channel = try await bootstrap.connect(to: address).get()
            } else {
                channel = try await bootstrap.connect(host: target.host, port: target.port).get()
            }
        } catch {
            handshake?.fail(TLSError(.closedDuringHandshake, "not connected"))
            if let tlsError = error as? TLSError { throw HTTPClientError(handshake: tlsError, peer: key) }
            throw Self.connectError(error, target: target, timeout: connectTimeout)
        }
        if let handshake {
            try await completeHandshake(handshake.futureResult, on: channel, peer: key, timeout: connectTimeout)
        }
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.isShutdown else { return false }
            state.open[ObjectIdentifier(channel)] = channel
            state.statistics.connectionsOpened += 1
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            throw HTTPClientError(.shutdown, mayHaveReachedServer: false, detail: "client shut down while connecting")
        }
        // Drop a connection from the pool as soon as it closes (server idle timeout, error, shutdown).
        channel.closeFuture.whenComplete { [weak self] _ in self?.closed(channel, key: key) }
        logger.trace("HTTP client connected", metadata: ["http.client.peer": "\(key)"])
        return channel
    }

    /// The TLS context of this client, built once.
    private func clientTLSContext(peer: String) throws(HTTPClientError) -> TLSClientContext {
        let result = tlsContext.withLockedValue { cached -> Result<TLSClientContext, TLSError> in
            if let cached { return cached }
            let built: Result<TLSClientContext, TLSError>
            do throws(TLSError) {
                built = .success(try TLSClientContext(configuration: configuration.tls))
            } catch {
                built = .failure(error)
            }
            cached = built
            return built
        }
        switch result {
        case .success(let context): return context
        case .failure(let error): throw HTTPClientError(handshake: error, peer: peer)
        }
    }

    /// Waits for the TLS handshake of a new connection, at most `timeout`; on any failure the connection is
    /// closed and nothing was written on it.
    private func completeHandshake(
        _ handshake: EventLoopFuture<TLSHandshakeCompleted>, on channel: any Channel, peer: String, timeout: TimeAmount
    ) async throws(HTTPClientError) {
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        do {
            let completed = try await withTaskCancellationHandler {
                try await handshake.get()
            } onCancel: {
                channel.close(promise: nil)
            }
            timer.cancel()
            logger.trace(
                "HTTP client TLS handshake completed",
                metadata: ["http.client.peer": "\(peer)", "tls.version": "\(completed.version)", "tls.alpn": "\(completed.negotiatedProtocol ?? "")"])
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if timedOut.withLockedValue({ $0 }) {
                throw HTTPClientError(.timeout, mayHaveReachedServer: false, detail: "TLS handshake with \(peer) timed out")
            }
            if Task.isCancelled {
                throw HTTPClientError(.cancelled, mayHaveReachedServer: false, detail: "cancelled during the TLS handshake")
            }
            let tlsError = error as? TLSError ?? TLSError(.handshakeFailed, "\(error)")
            logger.debug("HTTP client TLS handshake failed", metadata: ["http.client.peer": "\(peer)", "error": "\(tlsError)"])
            throw HTTPClientError(handshake: tlsError, peer: peer)
        }
    }

    private func release(_ channel: any Channel, key: String, reusable: Bool) {
        let keep = reusable && channel.isActive && configuration.maxIdleConnectionsPerHost > 0
        let kept = state.withLockedValue { state -> Bool in
            guard keep, !state.isShutdown, state.open[ObjectIdentifier(channel)] != nil,
                  state.idle[key, default: []].count < configuration.maxIdleConnectionsPerHost
            else {
                state.open[ObjectIdentifier(channel)] = nil
                return false
            }
            state.idle[key, default: []].append(IdleConnection(channel: channel, since: .now()))
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    private func closed(_ channel: any Channel, key: String) {
        state.withLockedValue { state in
            let id = ObjectIdentifier(channel)
            state.open[id] = nil
            if var list = state.idle[key] {
                list.removeAll { ObjectIdentifier($0.channel) == id }
                state.idle[key] = list.isEmpty ? nil : list
            }
        }
    }

    private func forget(_ channel: any Channel) {
        _ = state.withLockedValue { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
        channel.close(promise: nil)
    }

    static func connectError(_ error: any Error, target: HTTPClientTarget, timeout: TimeAmount) -> HTTPClientError {
        let peer = target.poolKey
        if case ChannelError.connectTimeout = error {
            return HTTPClientError(.timeout, mayHaveReachedServer: false, detail: "connect to \(peer) timed out")
        }
        if let connectionError = error as? NIOConnectionError {
            if connectionError.connectionErrors.contains(where: { Self.isTimeout($0.error) }) {
                return HTTPClientError(.timeout, mayHaveReachedServer: false, detail: "connect to \(peer) timed out")
            }
            return HTTPClientError(.connectionRefused, mayHaveReachedServer: false, detail: "cannot connect to \(peer): \(error)")
        }
        if Self.isTimeout(error) {
            return HTTPClientError(.timeout, mayHaveReachedServer: false, detail: "connect to \(peer) timed out")
        }
        return HTTPClientError(.connectionRefused, mayHaveReachedServer: false, detail: "cannot connect to \(peer): \(error)")
    }

    private static func isTimeout(_ error: any Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        if let io = error as? IOError, io.errnoCode == ETIMEDOUT { return true }
        return false
    }
}
