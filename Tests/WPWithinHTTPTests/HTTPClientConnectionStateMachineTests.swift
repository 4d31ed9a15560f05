import NIOCore
import NIOHTTP1
import Testing
@testable import WPWithinHTTP

/// The HTTP/1.1 client connection's decisions as a value: busy, reusable, too large, and what each way of
/// ending means for the request in flight.
@Suite struct HTTPClientConnectionStateMachineTests {
    typealias Machine = HTTPClientConnectionStateMachine<Int>

    static func head(_ status: Int, version: HTTPVersion = .http1_1, _ headers: [(String, String)] = []) -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers))
    }

    static func describe(_ action: Machine.Action) -> String {
        switch action {
        case .write: "write"
        case .refuse(let r, let e): "refuse \(r) \(e.kind) reached=\(e.mayHaveReachedServer)"
        case .succeed(let r, let h, let b, let reusable): "succeed \(r) \(h.status.code) \(String(buffer: b)) reusable=\(reusable)"
        case .fail(let r, let e, let close): "fail \(r.map(String.init) ?? "-") \(e.kind) reached=\(e.mayHaveReachedServer) close=\(close)"
        case .none: "none"
        }
    }

    @Test func aKeepAliveExchangeLeavesTheConnectionIdleForTheNext() {
        var m = Machine()
        #expect(Self.describe(m.requestStarted(1, keepAlive: true, maxBodySize: 100)) == "write")
        #expect(Self.describe(m.requestStarted(2, keepAlive: true, maxBodySize: 100)) == "refuse 2 invalidResponse reached=false")
        #expect(Self.describe(m.headReceived(Self.head(200))) == "none")
        #expect(Self.describe(m.bodyReceived(ByteBuffer(string: "hel"))) == "none")
        #expect(Self.describe(m.bodyReceived(ByteBuffer(string: "lo"))) == "none")
        #expect(Self.describe(m.endReceived()) == "succeed 1 200 hello reusable=true")
        #expect(m.isIdle)
        #expect(Self.describe(m.requestStarted(3, keepAlive: true, maxBodySize: 100)) == "write")
    }

    @Test func theConnectionIsReusableOnlyWhenBothSidesKeepItOnHTTP11() {
        for (keepAlive, head, reusable) in [
            (false, Self.head(200), false),
            (true, Self.head(200, [("connection", "close")]), false),
            (true, Self.head(200, version: .http1_0), false),
            (true, Self.head(204), true),
        ] {
            var m = Machine()
            _ = m.requestStarted(1, keepAlive: keepAlive, maxBodySize: 100)
            _ = m.headReceived(head)
            #expect(Self.describe(m.endReceived()).hasSuffix("reusable=\(reusable)"))
            #expect(m.isIdle == reusable)
            if !reusable {
                #expect(Self.describe(m.requestStarted(2, keepAlive: true, maxBodySize: 100)) == "refuse 2 connectionClosed reached=false")
            }
        }
    }

    @Test func informationalHeadsAreSkipped() {
        var m = Machine()
        _ = m.requestStarted(1, keepAlive: true, maxBodySize: 100)
        #expect(Self.describe(m.headReceived(Self.head(100))) == "none")
        #expect(Self.describe(m.endReceived()) == "none")
        #expect(Self.describe(m.headReceived(Self.head(201))) == "none")
        #expect(Self.describe(m.endReceived()) == "succeed 1 201  reusable=true")
    }

    @Test func aResponseOverTheLimitFailsAndCloses() {
        var announced = Machine()
        _ = announced.requestStarted(1, keepAlive: true, maxBodySize: 4)
        #expect(Self.describe(announced.headReceived(Self.head(200, [("content-length", "5")]))) == "fail 1 responseTooLarge reached=true close=true")
        var streamed = Machine()
        _ = streamed.requestStarted(2, keepAlive: true, maxBodySize: 4)
        _ = streamed.headReceived(Self.head(200))
        #expect(Self.describe(streamed.bodyReceived(ByteBuffer(string: "abcd"))) == "none")
        #expect(Self.describe(streamed.bodyReceived(ByteBuffer(string: "e"))) == "fail 2 responseTooLarge reached=true close=true")
        #expect(Self.describe(streamed.endReceived()) == "none")  // after the failure: nothing more
    }

    @Test func everyWayOfEndingEarlyFailsTheRequestAsPossiblyReceived() {
        // The channel closes mid-response: the request may have been handled; no extra close.
        var closed = Machine()
        _ = closed.requestStarted(1, keepAlive: true, maxBodySize: 100)
        _ = closed.headReceived(Self.head(200))
        #expect(Self.describe(closed.channelClosed()) == "fail 1 connectionClosed reached=true close=false")
        #expect(Self.describe(closed.requestStarted(2, keepAlive: true, maxBodySize: 100)) == "refuse 2 connectionClosed reached=false")
        // A deadline: fail and close.
        var late = Machine()
        _ = late.requestStarted(3, keepAlive: true, maxBodySize: 100)
        #expect(Self.describe(late.failed(HTTPClientError(.timeout, mayHaveReachedServer: true, detail: "t"))) == "fail 3 timeout reached=true close=true")
        // An end without a head, data on an idle connection.
        var headless = Machine()
        _ = headless.requestStarted(4, keepAlive: true, maxBodySize: 100)
        #expect(Self.describe(headless.endReceived()) == "fail 4 invalidResponse reached=true close=true")
        var idle = Machine()
        #expect(Self.describe(idle.bodyReceived(ByteBuffer(string: "x"))) == "fail - invalidResponse reached=true close=true")
        // An idle connection closing is nothing to report.
        var quiet = Machine()
        #expect(Self.describe(quiet.channelClosed()) == "none")
    }
}
