#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import WPWithinHTTP
import WPWithinTestSupport

let testAnswers = HTTPConnectionAnswers(
    refused: HTTPResponse.json(status: 503, #"{"full":true}"#).closingBytes,
    requestTimeout: HTTPResponse.json(status: 408, #"{"late":true}"#).closingBytes,
    linger: .seconds(2))

/// `HTTPConnectionGuard` on an `EmbeddedChannel` (virtual time).
@Suite struct HTTPConnectionGuardTests {
    static let timeouts = HTTPRequestDeadlines.Timeouts(header: .seconds(1), body: .seconds(2), idle: .seconds(5))

    struct Setup {
        let channel: EmbeddedChannel
        let loop: EmbeddedEventLoop
        let closes: CloseRecorder
        let reports: Reports<HTTPConnectionEventLog.Event>
    }

    func makeChannel(timeouts: HTTPRequestDeadlines.Timeouts?) throws -> Setup {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let closes = CloseRecorder()
        let reports = Reports<HTTPConnectionEventLog.Event>()
        let sink = HTTPConnectionEventSink { event, peer in
            #expect(peer == "192.0.2.7")
            reports.append(event)
        }
        try channel.pipeline.syncOperations.addHandler(closes)
        try channel.pipeline.syncOperations.addHandler(HTTPConnectionGuard(peer: "192.0.2.7", timeouts: timeouts, answers: testAnswers, sink: sink))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 64521)).wait()
        return Setup(channel: channel, loop: loop, closes: closes, reports: reports)
    }

    func outbound(_ channel: EmbeddedChannel) throws -> String? {
        try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }
    }

    @Test func aRefusedConnectionGets503AtOnceThenLingersAndCloses() throws {
        let setup = try makeChannel(timeouts: nil)
        let answer = try #require(try outbound(setup.channel))
        #expect(answer.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(answer.contains("Content-Length: 13\r\n"))
        #expect(answer.contains("Connection: close\r\n"))
        #expect(answer.hasSuffix("\r\n\r\n{\"full\":true}"))
        // Output closed at once; what the peer sends is discarded, not decoded.
        #expect(setup.closes.modes == [.output])
        try setup.channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(try setup.channel.readInbound(as: ByteBuffer.self) == nil)
        // Writes from behind are refused.
        #expect(throws: (any Error).self) { try setup.channel.writeOutbound(ByteBuffer(string: "late")) }
        setup.loop.advanceTime(by: .seconds(2))
        #expect(setup.closes.modes == [.output, .all])
        #expect(!setup.channel.isActive)
        #expect(setup.reports.all.isEmpty)
    }

    @Test func aTrickledHeadGets408AtTheHeaderDeadline() throws {
        let setup = try makeChannel(timeouts: Self.timeouts)
        for _ in 0..<9 {
            try setup.channel.writeInbound(ByteBuffer(string: "G"))
            #expect(try setup.channel.readInbound(as: ByteBuffer.self) != nil)
            setup.loop.advanceTime(by: .milliseconds(100))
        }
        #expect(try outbound(setup.channel) == nil)
        setup.loop.advanceTime(by: .milliseconds(100))
        let answer = try #require(try outbound(setup.channel))
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(answer.hasSuffix("{\"late\":true}"))
        #expect(setup.reports.all == [.headerTimeout])
        #expect(setup.closes.modes == [.output])
        setup.loop.advanceTime(by: .seconds(2))
        #expect(!setup.channel.isActive)
    }

    @Test func silenceIsClosedWithoutAnAnswer() throws {
        let setup = try makeChannel(timeouts: Self.timeouts)
        setup.loop.advanceTime(by: .seconds(1))
        #expect(try outbound(setup.channel) == nil)
        #expect(!setup.channel.isActive)
        #expect(setup.closes.modes == [.all])
        #expect(setup.reports.all == [.headerTimeout])
    }

    @Test func theBodyDeadlineThenNoTimerWhileHandlingThenIdle() throws {
        let setup = try makeChannel(timeouts: Self.timeouts)
        try setup.channel.writeInbound(ByteBuffer(string: "POST / HTTP/1.1\r\n"))
        try setup.channel.triggerUserOutboundEvent(HTTPRequestProgress.headReceived).wait()
        // The header deadline no longer applies; the body's does.
        setup.loop.advanceTime(by: .milliseconds(1500))
        #expect(setup.channel.isActive)
        try setup.channel.triggerUserOutboundEvent(HTTPRequestProgress.requestReceived).wait()
        // The handler may take its time.
        setup.loop.advanceTime(by: .seconds(600))
        #expect(setup.channel.isActive)
        try setup.channel.triggerUserOutboundEvent(HTTPRequestProgress.responseEnding).wait()
        setup.loop.advanceTime(by: .milliseconds(4900))
        #expect(setup.channel.isActive)
        setup.loop.advanceTime(by: .milliseconds(100))
        #expect(!setup.channel.isActive)
        // An idle keep-alive connection is closed quietly: no answer, nothing reported.
        #expect(try outbound(setup.channel) == nil)
        #expect(setup.reports.all.isEmpty)
    }

    @Test func aSlowBodyGets408() throws {
        let setup = try makeChannel(timeouts: Self.timeouts)
        try setup.channel.writeInbound(ByteBuffer(string: "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n"))
        try setup.channel.triggerUserOutboundEvent(HTTPRequestProgress.headReceived).wait()
        setup.loop.advanceTime(by: .seconds(2))
        #expect(try outbound(setup.channel)?.hasPrefix("HTTP/1.1 408 ") == true)
        #expect(setup.reports.all == [.bodyTimeout])
    }

    @Test func otherOutboundEventsPassThrough() throws {
        let setup = try makeChannel(timeouts: Self.timeouts)
        // EmbeddedChannel fails user outbound events it does not know: proof that the guard passed it on.
        #expect(throws: (any Error).self) { try setup.channel.triggerUserOutboundEvent("something else").wait() }
    }
}

/// `HTTPConnectionLimitHandler` as the handler of an `EmbeddedChannel` standing in for the listener; the
/// "accepted" children are `EmbeddedChannel`s on the same loop.
@Suite struct HTTPConnectionLimitHandlerTests {
    /// Marks a served child's pipeline (what the HTTP handlers would be).
    final class Served: ChannelInboundHandler {
        typealias InboundIn = NIOAny
    }

    struct Setup {
        let loop: EmbeddedEventLoop
        let server: EmbeddedChannel
        let handler: HTTPConnectionLimitHandler
        let log: LogCapture
    }

    static let message = "HTTP connections refused or timed out"

    func makeServer(limits: HTTPConnectionLimiter.Limits, trimMemory: Bool = false) throws -> Setup {
        let loop = EmbeddedEventLoop()
        let server = EmbeddedChannel(loop: loop)
        let log = LogCapture()
        let handler = HTTPConnectionLimitHandler(
            limits: limits, timeouts: .init(header: .seconds(1), body: .seconds(1), idle: .seconds(5)), answers: testAnswers,
            logInterval: .seconds(10), trimMemory: trimMemory, logger: log.logger,
            serve: { child in try child.pipeline.syncOperations.addHandler(Served()) })
        try server.pipeline.syncOperations.addHandler(handler)
        return Setup(loop: loop, server: server, handler: handler, log: log)
    }

    /// A child "accepted" from `peer`; true when the handler passed it on (served or refused).
    func accept(_ setup: Setup, from peer: String) throws -> (EmbeddedChannel, passedOn: Bool) {
        let child = EmbeddedChannel(loop: setup.loop)
        child.remoteAddress = try SocketAddress(ipAddress: peer, port: 40000)
        try setup.server.writeInbound(child as any Channel)
        let passed = try setup.server.readInbound(as: (any Channel).self)
        #expect(passed.map { $0 === child } ?? true)
        return (child, passed != nil)
    }

    func isClosed(_ child: EmbeddedChannel) -> Bool {
        var closed = false
        child.closeFuture.assumeIsolated().whenComplete { _ in closed = true }
        child.embeddedEventLoop.run()
        return closed
    }

    func isServed(_ child: EmbeddedChannel) -> Bool {
        (try? child.pipeline.syncOperations.handler(type: Served.self)) != nil
    }

    @Test func servesRefusesAndDropsThenCountsClosesBack() throws {
        let setup = try makeServer(limits: .init(maxConnections: 3, maxConnectionsPerPeer: 2, maxPendingRefusals: 1))
        let (a1, a1Passed) = try accept(setup, from: "10.0.0.1")
        let (a2, _) = try accept(setup, from: "10.0.0.1")
        #expect(a1Passed && isServed(a1) && isServed(a2))
        #expect((try? a1.pipeline.syncOperations.handler(type: HTTPConnectionGuard.self)) != nil)
        // Over the per-peer cap: refused, i.e. passed on with a guard only, which answers 503 when active.
        let (a3, a3Passed) = try accept(setup, from: "10.0.0.1")
        #expect(a3Passed && !isServed(a3))
        // Over a cap while the one refusal slot is busy: dropped (closed, not passed on).
        let (a4, a4Passed) = try accept(setup, from: "10.0.0.1")
        #expect(!a4Passed && isClosed(a4))
        try a3.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 64521)).wait()
        #expect(try a3.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }?.hasPrefix("HTTP/1.1 503 ") == true)
        let (b1, _) = try accept(setup, from: "10.0.0.2")
        #expect(isServed(b1))
        #expect(setup.handler.openConnections == 3)

        // Closing gives the slots back (the refused one closed itself after its answer: `EmbeddedChannel` has
        // no half close).
        _ = try? a1.close().wait()
        #expect(isClosed(a3))
        #expect(setup.handler.openConnections == 2)
        let (a5, _) = try accept(setup, from: "10.0.0.1")
        #expect(isServed(a5))
        _ = a2
    }

    @Test func logsOneSummaryPerInterval() throws {
        let setup = try makeServer(limits: .init(maxConnections: 1, maxConnectionsPerPeer: 1, maxPendingRefusals: 100))
        _ = try accept(setup, from: "10.0.0.1")
        for _ in 0..<50 { _ = try accept(setup, from: "10.0.0.1") }
        for _ in 0..<7 { _ = try accept(setup, from: "10.0.0.2") }
        #expect(setup.log.entries(Self.message).isEmpty)
        setup.loop.advanceTime(by: .seconds(10))
        let first = setup.log.entries(Self.message)
        #expect(first.count == 1)
        #expect(first.first?.level == .warning)
        #expect(first.first?.metadata["http.refused"] == "57")
        #expect(first.first?.metadata["http.refused.total_cap"] == "57")
        #expect(first.first?.metadata["http.top_peer"] == "10.0.0.1")
        #expect(first.first?.metadata["http.top_peer.events"] == "50")
        #expect(first.first?.metadata["http.max_connections"] == "1")
        #expect(first.first?.metadata["http.open"] == "1")
        // A quiet interval logs nothing; the next event opens a new window.
        setup.loop.advanceTime(by: .seconds(30))
        #expect(setup.log.entries(Self.message).count == 1)
        _ = try accept(setup, from: "10.0.0.3")
        setup.loop.advanceTime(by: .seconds(10))
        #expect(setup.log.entries(Self.message).count == 2)
        #expect(setup.log.entries(Self.message).last?.metadata["http.refused"] == "1")
    }

    @Test func timeoutsReportedByChildrenAreSummedUp() throws {
        let setup = try makeServer(limits: .init(maxConnections: 10, maxConnectionsPerPeer: 10, maxPendingRefusals: 1))
        var children: [EmbeddedChannel] = []
        for _ in 0..<4 {
            let (child, _) = try accept(setup, from: "10.0.0.5")
            try child.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 64521)).wait()
            children.append(child)
        }
        // Nothing sent: each is closed at the header deadline and counted.
        setup.loop.advanceTime(by: .seconds(1))
        #expect(children.allSatisfy { !$0.isActive })
        #expect(setup.handler.openConnections == 0)
        setup.loop.advanceTime(by: .seconds(10))
        let entries = setup.log.entries(Self.message)
        #expect(entries.count == 1)
        #expect(entries.first?.metadata["http.timed_out.header"] == "4")
        #expect(entries.first?.metadata["http.refused"] == "0")
        #expect(entries.first?.metadata["http.top_peer"] == "10.0.0.5")
    }

    @Test func freedMemoryIsHandedBackAMomentAfterABurst() throws {
        let setup = try makeServer(limits: .init(maxConnections: 200, maxConnectionsPerPeer: 200, maxPendingRefusals: 1), trimMemory: true)
        let message = "HTTP server released freed memory after a burst"
        var children: [EmbeddedChannel] = []
        for index in 0..<HTTPConnectionLimiter.burstSize { children.append(try accept(setup, from: "10.0.1.\(index)").0) }
        for child in children { _ = try? child.close().wait() }
        #expect(setup.log.entries(message).isEmpty)
        setup.loop.advanceTime(by: HTTPConnectionLimitHandler.trimDelay)
        #if canImport(Glibc)
        #expect(setup.log.entries(message).count == 1)
        #expect(setup.log.entries(message).first?.metadata["http.open"] == "0")
        #endif
        // A small burst does not trim again.
        for _ in 0..<10 { _ = try? accept(setup, from: "10.0.2.1").0.close().wait() }
        setup.loop.advanceTime(by: .seconds(10))
        #expect(setup.log.entries(message).count <= 1)
    }

    @Test func acceptErrorsAreCountedNotPassedOn() throws {
        let setup = try makeServer(limits: .init(maxConnections: 1, maxConnectionsPerPeer: 1, maxPendingRefusals: 1))
        setup.server.pipeline.fireErrorCaught(IOError(errnoCode: EMFILE, reason: "accept"))
        try setup.server.throwIfErrorCaught()
        setup.loop.advanceTime(by: .seconds(10))
        #expect(setup.log.entries(Self.message).first?.metadata["http.accept_errors"] == "1")
    }
}
