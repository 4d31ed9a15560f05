#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// On the server (listening) channel, before NIO's accept handler: decides for every accepted connection
/// with an ``HTTPConnectionLimiter`` whether it is served, refused (503) or dropped, puts an
/// ``HTTPConnectionGuard`` at the front of its pipeline (and, when served, the HTTP handlers behind it),
/// counts it back when it closes, and logs refusals, drops, timeouts and accept failures at most once per
/// interval (``HTTPConnectionEventLog``). All its state lives on the server channel's event loop; a child
/// channel on another loop reports through an ``HTTPConnectionEventSink`` that hops here.
final class HTTPConnectionLimitHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let timeouts: HTTPRequestDeadlines.Timeouts
    private let answers: HTTPConnectionAnswers
    private let logInterval: TimeAmount
    private let trimMemory: Bool
    private let logger: Logger
    /// Adds the HTTP handlers behind the guard of a served connection (on the connection's loop).
    private let serve: @Sendable (any Channel) throws -> Void
    private var limiter: HTTPConnectionLimiter
    private var events = HTTPConnectionEventLog()
    private var context: ChannelHandlerContext?
    private var eventSink: HTTPConnectionEventSink?
    private var flushTimer: Scheduled<Void>?
    private var trimTimer: Scheduled<Void>?
    private var active = true

    init(
        limits: HTTPConnectionLimiter.Limits,
        timeouts: HTTPRequestDeadlines.Timeouts,
        answers: HTTPConnectionAnswers,
        logInterval: TimeAmount,
        trimMemory: Bool,
        logger: Logger,
        serve: @escaping @Sendable (any Channel) throws -> Void
    ) {
        self.limiter = HTTPConnectionLimiter(limits: limits)
        self.timeouts = timeouts
        self.answers = answers
        self.logInterval = logInterval
        self.trimMemory = trimMemory
        self.logger = logger
        self.serve = serve
    }

    /// The open (served) connections.
    var openConnections: Int { limiter.open }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        eventSink = HTTPConnectionEventSink { event, peer in
            if loop.inEventLoop {
                this.value.record(event, peer: peer)
            } else {
                loop.execute { this.value.record(event, peer: peer) }
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        flush()
        trimTimer?.cancel()
        trimTimer = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        flush()
        active = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // accept(2) failures (after `AcceptBackoffHandler` paused accepting): counted, not one line each.
        if error is IOError {
            record(.acceptError, peer: nil)
        } else {
            context.fireErrorCaught(error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        guard let sink = eventSink else {
            child.close(promise: nil)
            return
        }
        let peer = child.remoteAddress?.ipAddress ?? "unknown"
        let admission = limiter.admit(peer: peer)
        switch admission {
        case .accepted:
            break
        case .refused(let cap):
            record(.refused(cap), peer: peer)
        case .dropped:
            record(.dropped, peer: peer)
            child.close(promise: nil)
            return
        }
        let loop = context.eventLoop
        child.closeFuture.hop(to: loop).assumeIsolated().whenComplete { [self] _ in
            self.closed(peer: peer, admission: admission)
        }
        let setup = Self.setup(peer: peer, admission: admission, timeouts: timeouts, answers: answers, sink: sink, serve: serve)
        if child.eventLoop === loop {
            do {
                try setup(child)
            } catch {
                child.close(promise: nil)
                return
            }
            context.fireChannelRead(data)
        } else {
            child.eventLoop.submit { try setup(child) }.hop(to: loop).assumeIsolated().whenComplete { result in
                switch result {
                case .success: context.fireChannelRead(data)
                case .failure: child.close(promise: nil)
                }
            }
        }
    }

    /// Builds a connection's pipeline on its own loop: the guard first, then (when served) the HTTP handlers.
    private static func setup(
        peer: String, admission: HTTPConnectionLimiter.Admission, timeouts: HTTPRequestDeadlines.Timeouts,
        answers: HTTPConnectionAnswers, sink: HTTPConnectionEventSink, serve: @escaping @Sendable (any Channel) throws -> Void
    ) -> @Sendable (any Channel) throws -> Void {
        { child in
            let served = admission == .accepted
            let guardHandler = HTTPConnectionGuard(peer: peer, timeouts: served ? timeouts : nil, answers: answers, sink: sink)
            try child.pipeline.syncOperations.addHandler(guardHandler, position: .first)
            if served { try serve(child) }
        }
    }

    private func closed(peer: String, admission: HTTPConnectionLimiter.Admission) {
        guard limiter.closed(peer: peer, admission: admission), trimMemory, Self.mallocTrim != nil, trimTimer == nil, let context else {
            return
        }
        // The burst's connections are gone, but their buffers and pipelines are freed over the next loop
        // ticks: trim a moment later, so that what they used is free by then.
        trimTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.trimDelay) { [self] in
            self.trimTimer = nil
            self.trim()
        }
    }

    /// How long after a burst ends the freed memory is handed back.
    static let trimDelay = TimeAmount.seconds(1)

    /// Hands the memory glibc kept for the process back to the system.
    private func trim() {
        guard let trim = Self.mallocTrim else { return }
        let started = ContinuousClock.now
        _ = trim(0)
        logger.debug("HTTP server released freed memory after a burst", metadata: [
            "http.trim_us": "\((ContinuousClock.now - started).components.attoseconds / 1_000_000_000_000)",
            "http.open": "\(limiter.open)",
        ])
    }

    /// glibc's `malloc_trim`, looked up at run time (the Glibc module does not export `<malloc.h>`; other C
    /// libraries have no such call).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()

    private func record(_ event: HTTPConnectionEventLog.Event, peer: String?) {
        guard active, events.record(event, peer: peer), let context else { return }
        flushTimer = context.eventLoop.assumeIsolated().scheduleTask(in: logInterval) { [self] in
            self.flushTimer = nil
            self.flush()
        }
    }

    private func flush() {
        flushTimer?.cancel()
        flushTimer = nil
        guard let summary = events.flush() else { return }
        let limits = limiter.limits
        logger.warning("HTTP connections refused or timed out", metadata: [
            "http.refused": "\(summary.refused)",
            "http.refused.total_cap": "\(summary.refusedTotalCap)",
            "http.refused.peer_cap": "\(summary.refusedPeerCap)",
            "http.dropped": "\(summary.dropped)",
            "http.timed_out.header": "\(summary.headerTimeouts)",
            "http.timed_out.body": "\(summary.bodyTimeouts)",
            "http.accept_errors": "\(summary.acceptErrors)",
            "http.top_peer": "\(summary.topPeer ?? "-")",
            "http.top_peer.events": "\(summary.topPeerEvents)",
            "http.open": "\(limiter.open)",
            "http.max_connections": "\(limits.maxConnections)",
            "http.max_connections_per_peer": "\(limits.maxConnectionsPerPeer)",
            "http.interval_ms": "\(logInterval.nanoseconds / 1_000_000)",
        ])
    }
}
