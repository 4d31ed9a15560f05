// wpw-fault-proxy: a fault-injecting HTTP/1.1 proxy for tests (see docs/testing.md).
//
// It listens on 127.0.0.1, forwards each request to `--upstream` on a connection of its own, and applies the
// first matching rule: pass, delay, delayResponse, drop, blackhole, status, forwardThenStatus, forwardThenCut,
// fabricate, hold, holdResponse. Rules, holds and the request log are driven through a second port (the
// control API, JSON over HTTP). Once both ports are bound it prints one line to stdout:
// {"event":"listening","port":N,"controlPort":M}
//
// Everything runs on one NIO event loop, which owns the state (rules, log, holds): no locks.

import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import WPWithinCore

struct FaultProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wpw-fault-proxy",
        abstract: "A fault-injecting HTTP/1.1 proxy on 127.0.0.1 for tests.",
        discussion: "Prints {\"event\":\"listening\",\"port\":N,\"controlPort\":M} once bound. See docs/testing.md."
    )

    @Option(name: .long, help: "Where to forward: http://127.0.0.1:PORT (loopback only).")
    var upstream: String

    @Option(name: .long, help: "Proxy port on 127.0.0.1; 0 picks an ephemeral port.")
    var port = 0

    @Option(name: .long, help: "Control API port on 127.0.0.1; 0 picks an ephemeral port.")
    var controlPort = 0

    @Option(name: .long, help: "JSON file of rules to start with (the body of PUT /rules).")
    var rules: String?

    @Option(name: .long, help: "Append one JSON line per finished request to this file.")
    var log: String?

    func run() throws {
        Self.dieOnTermination()
        let (host, upstreamPort) = try Self.parseUpstream(upstream)
        var initialRules: [ProxyRule] = []
        if let rules {
            guard let data = FileManager.default.contents(atPath: rules) else { throw ValidationError("cannot read \(rules)") }
            do {
                initialRules = try ProxyRule.parseList(try JSONValue.parse(data))
            } catch let error as ProxyError {
                throw ValidationError("\(rules): \(error.message)")
            } catch {
                throw ValidationError("\(rules): \(error)")
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let logPath = log
        let startRules = initialRules
        let state = try loop.submit {
            let state = try ProxyState(loop: loop, upstreamHost: host, upstreamPort: upstreamPort, logPath: logPath)
            state.replaceRules(startRules)
            return NIOLoopBound(state, eventLoop: loop)
        }.wait()

        let proxy = try Self.listen(on: loop, port: port) { channel in
            try channel.pipeline.syncOperations.addHandler(ProxyConnectionHandler(state: state.value))
        }
        let control = try Self.listen(on: loop, port: controlPort) { channel in
            try channel.pipeline.syncOperations.addHandler(ControlHandler(state: state.value))
        }
        let line: JSONValue = [
            "event": "listening", "port": .int(Int64(proxy.localAddress?.port ?? 0)),
            "controlPort": .int(Int64(control.localAddress?.port ?? 0)),
        ]
        FileHandle.standardOutput.write(Data(line.serialized() + [UInt8(ascii: "\n")]))
        try proxy.closeFuture.wait()
    }

    /// Binds an HTTP/1.1 server on 127.0.0.1 whose requests arrive whole at the handler `addHandler` adds.
    static func listen(
        on loop: any EventLoop, port: Int, addHandler: @escaping @Sendable (any Channel) throws -> Void
    ) throws -> any Channel {
        try ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: 16 << 20))
                    try addHandler(channel)
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .wait()
    }

    /// SIGTERM and SIGINT end the process at once, even when the parent left them ignored or blocked (a test
    /// runner may): the proxy keeps nothing that needs a graceful stop.
    static func dieOnTermination() {
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// `http://127.0.0.1:PORT` (a trailing path is ignored: the proxy forwards request targets unchanged).
    static func parseUpstream(_ text: String) throws -> (String, Int) {
        guard text.hasPrefix("http://") else { throw ValidationError("--upstream must be http://127.0.0.1:PORT") }
        let authority = text.dropFirst("http://".count).split(separator: "/", maxSplits: 1).first ?? ""
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
            throw ValidationError("--upstream must be http://127.0.0.1:PORT")
        }
        let host = String(parts[0])
        guard host == "127.0.0.1" || host == "localhost" else { throw ValidationError("--upstream must be on loopback (127.0.0.1)") }
        return (host, port)
    }
}

FaultProxyCommand.main()
