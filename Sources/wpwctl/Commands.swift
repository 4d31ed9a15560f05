import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import WPWithinClient
import WPWithinCore

/// A command that calls one method without params and prints its result (`readable` for humans).
protocol PlainCallCommand: AsyncParsableCommand {
    static var method: String { get }
    static func readable(_ result: JSONValue) -> String
    var global: GlobalOptions { get }
}

extension PlainCallCommand {
    func run() async throws {
        try await withDaemon(global) { session in
            session.print(try await session.call(Self.method), readable: Self.readable)
        }
    }
}

struct StatusCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's status (getStatus): readiness, version, pid, uptime, connections, paths."
    )
    static let method = "getStatus"
    static func readable(_ result: JSONValue) -> String {
        var flattened = result
        if case .object(var object) = result, let health = object["health"] {
            object["health"] = .string(Output.healthSummary(health))
            // A consumer's spending budgets: what each has left (not a consumer: no line).
            if let consumer = object.removeValue(forKey: "consumer"), consumer != .null {
                object["spending"] = .string(Output.budgetSummary(consumer["budgets"]))
            }
            flattened = .object(object)
        }
        return Output.readable(flattened, order: Output.statusOrder)
    }

    @OptionGroup var global: GlobalOptions
}

struct SpendingCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "spending",
        abstract: "Show the consumer's spending policy and what each budget has left (getSpendingPolicy).",
        discussion: "Budgets are per currency over a rolling day and a rolling 30 days; pending is paid for but not settled yet."
    )
    static let method = "getSpendingPolicy"
    static func readable(_ result: JSONValue) -> String {
        var policy = result["policy"]?.objectValue ?? [:]
        for (key, value) in policy {
            // Unset rules read as such; per-currency amounts as money.
            if value == .null || value == [] {
                policy[key] = "-"
            } else if let amounts = value.arrayValue, amounts.first?["currencyCode"] != nil {
                policy[key] = .string(amounts.map {
                    Output.money(minorUnits: $0["amount"]?.int64Value ?? 0, currencyCode: $0["currencyCode"]?.stringValue ?? "")
                }.joined(separator: ", "))
            }
        }
        let budgets = Output.objects(result["budgets"]).map { budget in
            var row = budget
            let code = budget["currencyCode"]?.stringValue ?? ""
            for key in ["limit", "spent", "purchased", "pending", "remaining"] {
                if let minor = budget[key]?.int64Value { row[key] = .string(Output.money(minorUnits: minor, currencyCode: code)) }
            }
            return row
        }
        return Output.readable(.object(policy), order: Self.policyOrder) + "\n\n"
            + Output.columns(budgets, Output.budgetColumns, empty: "no budgets")
    }
    static let policyOrder = [
        "maxTotal", "maxUnitPrice", "maxUnits", "dailyBudget", "monthlyBudget", "allowProducers", "denyProducers",
        "allowServiceTypes", "denyServiceTypes", "allowCurrencies",
    ]

    @OptionGroup var global: GlobalOptions
}

struct MetricsCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the daemon's metrics (getMetrics), Prometheus text format.",
        discussion: "The same text a scraper gets from the metrics.listen endpoint. --json prints the method's result."
    )
    static let method = "getMetrics"
    static func readable(_ result: JSONValue) -> String {
        // The exposition ends in a newline; Console adds one.
        var text = result["text"]?.stringValue ?? ""
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    @OptionGroup var global: GlobalOptions
}

struct DeviceCommand: PlainCallCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Show this device's identity (getDevice): server id, name, description, version, roles."
    )
    static let method = "getDevice"
    static func readable(_ result: JSONValue) -> String { Output.readable(result, order: Output.deviceOrder) }

    @OptionGroup var global: GlobalOptions
}

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call any RPC method by name, with named params as key=value words, a JSON object, or - (stdin).",
        discussion: """
            A key=value value that is valid JSON is that JSON (numbers, true, false, null, objects, arrays,
            "quoted strings"); anything else is a string. 'wpwctl help METHOD' lists a method's params.
            Examples:
              wpwctl call rpc.discover --json
              wpwctl call getServicePrices serverId=4e2c…-… serviceId=1
              wpwctl call subscribe '{"types":["producer.paymentSucceeded"]}'
              echo '{"purchaseId":1,"units":2}' | wpwctl call beginServiceDelivery -
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(
        help: ArgumentHelp("The method name, e.g. getStatus or rpc.discover.", valueName: "method"),
        completion: .custom(LiveCompletions.methods)
    )
    var method: String

    @Argument(
        help: ArgumentHelp("The params: key=value words, one JSON object, or - to read a JSON object from stdin.", valueName: "params")
    )
    var params: [String] = []

    func validate() throws {
        if method.isEmpty { throw ValidationError("the method name must not be empty") }
        if params != ["-"] { _ = try parsedParams() }
    }

    private func parsedParams() throws -> [String: JSONValue]? {
        do {
            return try Output.callParams(params, readStdin: Console.readAll)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let parsed = try parsedParams()
        try await withDaemon(global) { session in
            session.print(try await session.call(method, parsed)) { Output.readable($0) }
        }
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the daemon's events, one line each: follows them until Ctrl-C, or with --no-follow prints the kept ones and exits."
    )

    @OptionGroup var global: GlobalOptions

    @Option(
        name: .customLong("type"), help: ArgumentHelp("Only events of this type (repeatable).", valueName: "type"),
        completion: .custom(LiveCompletions.eventTypes)
    )
    var types: [String] = []

    @Option(
        name: [.customLong("since"), .customLong("resume-from")],
        help: ArgumentHelp("First replay the kept events after this sequence number (0: all kept).", valueName: "seq")
    )
    var resumeFrom: Int64?

    @Flag(
        inversion: .prefixedNo,
        help: "Follow new events (the default); --no-follow prints the kept events (after --since, default 0) and exits."
    )
    var follow = true

    func validate() throws {
        if let resumeFrom, resumeFrom < 0 { throw ValidationError("--since must be zero or more") }
        if types.contains(where: \.isEmpty) { throw ValidationError("--type must not be empty") }
    }

    func run() async throws {
        // Ctrl-C ends a follow normally; stdout is written unbuffered, so nothing is lost.
        signal(SIGINT) { _ in _exit(0) }
        try await withDaemon(global) { session in
            let client = session.client
            let types = types.isEmpty ? nil : types
            let since = follow ? resumeFrom : resumeFrom ?? 0
            let stream = try await withDeadline(global.timeout, what: "subscribe") {
                try await client.events(types: types, resumeFrom: since)
            }
            // --no-follow: the replayed events are the ones the daemon counted in its answer; then stop.
            var left = follow ? nil : await client.lastSubscription?.replayed ?? 0
            if left == 0 { return }
            for try await event in stream {
                Console.out(Output.event(event, json: global.json))
                if let count = left {
                    left = count - 1
                    if count <= 1 { break }
                }
            }
        }
    }
}
