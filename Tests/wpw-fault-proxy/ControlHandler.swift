import NIOCore
import NIOHTTP1
import WPWithinCore

/// The control API (JSON over HTTP on the control port; see docs/testing.md):
///
/// | route | does |
/// |---|---|
/// | `GET /rules` | `{"rules":[…, "remaining", "hits"]}` |
/// | `PUT /rules` | replace the rules (a list, `{"rules":[…]}` or one rule) |
/// | `POST /rules` | append rules |
/// | `DELETE /rules` | clear the rules |
/// | `GET /held` | `{"held":[{"id","seq","method","path","uri","rule","stage","upstreamStatus","clientGone"}]}` |
/// | `POST /held/wait` | `{"method","path","match","rule","stage","after","timeoutMs"}` → the first matching held exchange, now or when it comes; 408 on timeout |
/// | `POST /held/{id}/release` | `{"action":"deliver"|"cut"|"status","status","body","headers"}` |
/// | `POST /held/release` | the same for every held exchange → `{"released":N}` |
/// | `GET /log` | `{"requests":[…]}` |
/// | `DELETE /log` | forget the log |
/// | `PUT /upstream` | `{"port":N}`: send later requests to `127.0.0.1:N` (a failover to another producer) |
final class ControlHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    private let state: ProxyState
    private var context: ChannelHandlerContext?

    init(state: ProxyState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        let head = request.head
        do {
            let body = try Self.body(request)
            let segments = RequestPattern.segments(of: head.uri)
            switch (head.method, segments) {
            case (.GET, ["rules"]):
                reply(head, 200, state.rulesListing)
            case (.PUT, ["rules"]):
                state.replaceRules(try ProxyRule.parseList(body ?? .array([])))
                reply(head, 200, state.rulesListing)
            case (.POST, ["rules"]):
                state.appendRules(try ProxyRule.parseList(body ?? .array([])))
                reply(head, 200, state.rulesListing)
            case (.DELETE, ["rules"]):
                state.replaceRules([])
                reply(head, 200, state.rulesListing)
            case (.GET, ["held"]):
                reply(head, 200, state.heldListing)
            case (.POST, ["held", "wait"]):
                let object = body?.objectValue ?? [:]
                let filter = try HeldFilter(object: object)
                let timeout = object["timeoutMs"]?.int64Value ?? 30_000
                state.waitForHeld(filter, timeout: .milliseconds(timeout)).assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let held): self.reply(head, 200, held)
                    case .failure(let error as ProxyError): self.reply(head, error.status, ["error": .string(error.message)])
                    case .failure(let error): self.reply(head, 500, ["error": .string("\(error)")])
                    }
                }
            case (.POST, ["held", "release"]):
                let released = state.releaseAll(try Release(parsing: body))
                reply(head, 200, ["released": .int(Int64(released))])
            case (.POST, let path) where path.count == 3 && path[0] == "held" && path[2] == "release":
                guard let id = Int(path[1]) else { throw ProxyError("no held exchange \(path[1])", status: 404) }
                guard state.release(id: id, try Release(parsing: body)) else { throw ProxyError("no held exchange \(id)", status: 404) }
                reply(head, 200, ["released": 1])
            case (.GET, ["log"]):
                reply(head, 200, state.logListing)
            case (.DELETE, ["log"]):
                state.clearLog()
                reply(head, 200, state.logListing)
            case (.PUT, ["upstream"]):
                guard let port = body?["port"]?.int64Value, (1...65535).contains(port) else {
                    throw ProxyError("PUT /upstream needs {\"port\": 1…65535}")
                }
                state.upstreamPort = Int(port)
                reply(head, 200, ["port": .int(port)])
            default:
                throw ProxyError("no such control route: \(head.method.rawValue) \(head.uri)", status: 404)
            }
        } catch let error as ProxyError {
            reply(head, error.status, ["error": .string(error.message)])
        } catch {
            reply(head, 500, ["error": .string("\(error)")])
        }
    }

    private static func body(_ request: NIOHTTPServerRequestFull) throws -> JSONValue? {
        guard let buffer = request.body, buffer.readableBytes > 0 else { return nil }
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw ProxyError("the body is not JSON: \(error)")
        }
    }

    private func reply(_ request: HTTPRequestHead, _ status: Int, _ value: JSONValue) {
        guard let context, context.channel.isActive else { return }
        let body = value.serialized()
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.count))
        if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !request.isKeepAlive {
            let channel = context.channel
            done.assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
