import ArgumentParser
import WPWithinClient
import WPWithinCore

/// `wpwctl methods [METHOD]` (and `wpwctl help METHOD`): the daemon's methods, from its `rpc.discover`.
struct MethodsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "methods",
        abstract: "List the daemon's RPC methods, or describe one: summary, params, result, errors (from rpc.discover).",
        discussion: "The same as 'wpwctl help METHOD' (while 'wpwctl help SUBCOMMAND' is the subcommand's help)."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("A method name, e.g. selectService.", valueName: "method"), completion: .custom(LiveCompletions.methods))
    var method: String?

    func run() async throws {
        try await withDaemon(global) { session in
            let document = try await session.call("rpc.discover")
            let methods = Output.objects(document["methods"])
            guard let method else {
                let list = JSONValue.array(methods.map { ["name": $0["name"] ?? .null, "summary": $0["summary"] ?? .null] })
                session.print(list) { Output.columns(Output.objects($0), Output.methodColumns) }
                return
            }
            guard let described = methods.first(where: { $0["name"]?.stringValue == method }) else {
                let names = methods.compactMap { $0["name"]?.stringValue }
                let subcommands = WPWCtl.configuration.subcommands.compactMap { $0.configuration.commandName }
                var message = "wpwctl: '\(method)' is neither a subcommand nor a method of the daemon at \(session.socketPath)"
                let close = MethodHelp.suggestions(for: method, among: names + subcommands)
                if !close.isEmpty { message += "; did you mean \(close.joined(separator: ", "))?" }
                Console.error(message + " ('wpwctl methods' lists the methods)")
                throw ExitCode(ExitStatus.usage)
            }
            let schemas = document["components"]?["schemas"]?.objectValue ?? [:]
            session.print(.object(described)) { MethodHelp.text($0.objectValue ?? [:], schemas: schemas) }
        }
    }
}

/// The human description of one OpenRPC method object.
enum MethodHelp {
    /// `schemas`: the document's `components/schemas`, which a result's `$ref` names.
    static func text(_ method: [String: JSONValue], schemas: [String: JSONValue] = [:]) -> String {
        var lines = [method["name"]?.stringValue ?? "?"]
        if let summary = method["summary"]?.stringValue { lines.append("  " + summary) }
        let params: [[String: JSONValue]] = Output.objects(method["params"]).map { param in
            [
                "name": param["name"] ?? .null, "type": .string(type(param["schema"])),
                "required": .string(param["required"] == true ? "yes" : "no"),
                "summary": param["summary"]?.stringValue.map { $0.isEmpty ? JSONValue.null : .string($0) } ?? .null,
            ]
        }
        lines += section("Params", params.isEmpty ? nil : Output.columns(params, ["name", "type", "required", "summary"]), none: "none")
        if let result = method["result"]?.objectValue {
            let schema = resolved(result["schema"], schemas)
            let properties = schema?["properties"]?.objectValue ?? [:]
            let required = schema?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            lines += section(
                "Result: \(result["name"]?.stringValue ?? "result") (\(type(schema)))",
                properties.isEmpty ? nil : Output.table(properties.mapValues { .string(type($0)) }, order: required), none: nil)
        }
        let errors = Output.objects(method["errors"])
        lines += section("Errors", errors.isEmpty ? nil : Output.columns(errors, ["code", "message"]), none: "only the general ones (docs/rpc.md)")
        return lines.joined(separator: "\n")
    }

    /// A blank line, `title:` and the body indented; without a body, `title: none` (or the title alone).
    private static func section(_ title: String, _ body: String?, none: String?) -> [String] {
        guard let body else { return ["", none.map { "\(title): \($0)" } ?? title] }
        return ["", title + (none == nil ? "" : ":")] + body.split(separator: "\n").map { "  " + $0 }
    }

    /// The named schema a `{"$ref": "#/components/schemas/NAME"}` stands for (other schemas as they are).
    static func resolved(_ schema: JSONValue?, _ schemas: [String: JSONValue]) -> JSONValue? {
        let prefix = "#/components/schemas/"
        guard let ref = schema?["$ref"]?.stringValue, ref.hasPrefix(prefix), let named = schemas[String(ref.dropFirst(prefix.count))] else {
            return schema
        }
        return named
    }

    /// A JSON schema's type in a few words: `integer 1…600000`, `array of string`, `string or null`.
    static func type(_ schema: JSONValue?) -> String {
        guard let schema = schema?.objectValue else { return "any" }
        if schema["$ref"] != nil { return "object" }
        var text: String
        switch schema["type"] {
        case .string(let name)?: text = name
        case .array(let names)?: text = names.compactMap(\.stringValue).joined(separator: " or ")
        default: text = "any"
        }
        if text == "array", let items = schema["items"] { text += " of " + type(items) }
        if let values = schema["enum"]?.arrayValue, !values.isEmpty { text += " (\(values.count) values)" }
        switch (schema["minimum"].map(Output.cell), schema["maximum"].map(Output.cell)) {
        case let (minimum?, maximum?): text += " \(minimum)…\(maximum)"
        case let (minimum?, nil): text += " ≥ \(minimum)"
        case let (nil, maximum?): text += " ≤ \(maximum)"
        case (nil, nil): break
        }
        return text
    }

    /// Names close to `name`: containing it (or it them), ignoring case, or a few edits away.
    static func suggestions(for name: String, among names: [String]) -> [String] {
        let lower = name.lowercased()
        let scored = names.compactMap { candidate -> (String, Int)? in
            let other = candidate.lowercased()
            if other.contains(lower) || lower.contains(other) { return (candidate, 0) }
            let distance = editDistance(lower, other)
            return distance <= max(2, lower.count / 3) ? (candidate, distance) : nil
        }
        return scored.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(3).map(\.0)
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
