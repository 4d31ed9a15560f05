import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinClient
import WPWithinCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's status (getStatus): readiness, version, pid, uptime, connections, paths."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await withDaemon(global) { client in
            let result = try await client.call("getStatus")
            Console.out(Output.result(result, json: global.json, order: Output.statusOrder))
        }
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Show this device's identity (getDevice): server id, name, description, version, roles."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await withDaemon(global) { client in
            let result = try await client.call("getDevice")
            Console.out(Output.result(result, json: global.json, order: Output.deviceOrder))
        }
    }
}

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call any RPC method by name, with named params given as a JSON object.",
        discussion: """
            Examples:
              wpwctl call rpc.discover --json
              wpwctl call subscribe '{"types":["producer.paymentSucceeded"]}'
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(
        help: ArgumentHelp("The method name, e.g. getStatus or rpc.discover.", valueName: "method"),
        completion: .custom(LiveCompletions.methods)
    )
    var method: String

    @Argument(help: ArgumentHelp("Named params as a JSON object, e.g. '{\"serviceId\":1}'.", valueName: "json"))
    var params: String?

    func validate() throws {
        if method.isEmpty { throw ValidationError("the method name must not be empty") }
        do {
            _ = try Output.parseParams(params)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let parsed: [String: JSONValue]?
        do {
            parsed = try Output.parseParams(params)
        } catch {
            throw ValidationError(error.message)
        }
        try await withDaemon(global) { client in
            let result = try await client.call(method, params: parsed)
            Console.out(Output.result(result, json: global.json))
        }
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Subscribe and print the daemon's events, one line each, until Ctrl-C or the daemon closes."
    )

    @OptionGroup var global: GlobalOptions

    @Option(
        name: .customLong("type"), help: ArgumentHelp("Only events of this type (repeatable).", valueName: "type"),
        completion: .custom(LiveCompletions.eventTypes)
    )
    var types: [String] = []

    @Option(name: .customLong("resume-from"), help: ArgumentHelp("Replay the events after this sequence number first.", valueName: "seq"))
    var resumeFrom: Int64?

    func validate() throws {
        if let resumeFrom, resumeFrom < 0 { throw ValidationError("--resume-from must be zero or more") }
        if types.contains(where: \.isEmpty) { throw ValidationError("--type must not be empty") }
    }

    func run() async throws {
        // Ctrl-C ends a follow normally; stdout is written unbuffered, so nothing is lost.
        signal(SIGINT) { _ in _exit(0) }
        try await withDaemon(global) { client in
            let stream = try await client.events(types: types.isEmpty ? nil : types, resumeFrom: resumeFrom)
            for try await event in stream {
                Console.out(Output.event(event, json: global.json))
            }
        }
    }
}

/// Connects, runs `body`, closes, and turns failures into wpwctl's exit statuses with a message on stderr.
func withDaemon(_ global: GlobalOptions, _ body: (WPWithinClient) async throws -> Void) async throws {
    let client: WPWithinClient
    do {
        client = try await WPWithinClient.connected(socketPath: global.socket)
    } catch {
        Console.error(Output.clientError(error))
        throw ExitCode(ExitStatus.cannotConnect)
    }
    do {
        try await body(client)
        await client.close()
    } catch let error as WPWError {
        await client.close()
        Console.error(Output.rpcError(error, json: global.json))
        throw ExitCode(ExitStatus.rpcError)
    } catch let error as WPWithinClientError {
        await client.close()
        Console.error(Output.clientError(error))
        throw ExitCode(ExitStatus.cannotConnect)
    } catch {
        await client.close()
        throw error
    }
}

/// Unbuffered line output, so `wpwctl events | …` sees each event at once.
enum Console {
    static func out(_ text: String) { write(STDOUT_FILENO, text) }

    static func error(_ text: String) { write(STDERR_FILENO, text) }

    /// The whole line, retrying after a signal or a partial write.
    private static func write(_ descriptor: Int32, _ text: String) {
        var bytes = Array((text + "\n").utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
