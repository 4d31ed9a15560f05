// Validates what a daemon answers against its own OpenRPC document (issue 14).
//
// - `JSONSchemaValidator`: the subset of JSON Schema (Draft 7) that `rpc.discover` uses: `type` (a name or a
//   list, `null` included), `properties`, `required`, `additionalProperties` (false or a schema), `enum`,
//   `const`, `minimum`/`maximum`, `items`, `$ref` into `#/components/schemas`, `oneOf`/`anyOf`/`allOf`.
//   A keyword it does not know is itself a violation, so the document cannot grow past what is checked.
// - `OpenRPCDocument`: a method's result, an error object (its code listed for the method, its `data`
//   against `ErrorData.<name>`), a notification (`event` against `Event.<type>` and `Event`,
//   `subscriptionLost` against `SubscriptionLost`); `snapshot` is the repository's
//   `clients/python/openrpc.json`, which a test keeps equal to the live document.
// - `OpenRPCCoverage`: which results, error codes, event types and notifications were validated, appended to
//   `<build dir>/openrpc-coverage/` for `scripts/openrpc-coverage.sh`.

import Foundation
import WPWithinCore

/// One way an instance fails its schema: where (a JSON pointer, `""` for the root) and why.
public struct SchemaViolation: Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path.isEmpty ? "(root)" : path): \(reason)" }
}

/// A JSON Schema validator for the keywords the daemon's OpenRPC document uses.
public struct JSONSchemaValidator: Sendable {
    /// `components/schemas` of the document: what `#/components/schemas/<name>` refers to.
    public let schemas: [String: JSONValue]

    /// Keywords that only annotate: never a reason to fail.
    static let annotations: Set<String> = ["description", "title", "summary", "default", "examples", "$comment", "deprecated", "readOnly", "format"]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "enum", "const", "minimum", "maximum", "items",
        "$ref", "oneOf", "anyOf", "allOf",
    ]
    static let refPrefix = "#/components/schemas/"
    /// The OpenRPC meta-schema `rpc.discover` refers to is not fetched: its top level is checked instead.
    static let metaSchemaStandIn: JSONValue = [
        "type": "object", "required": ["openrpc", "info", "methods", "components"],
    ]

    public init(schemas: [String: JSONValue]) {
        self.schemas = schemas
    }

    /// Every violation of `schema` by `instance` (empty when it conforms).
    public func violations(of schema: JSONValue, by instance: JSONValue, at path: String = "") -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        check(schema, instance, path, depth: 0, into: &found)
        return found
    }

    private func check(_ schema: JSONValue, _ instance: JSONValue, _ path: String, depth: Int, into found: inout [SchemaViolation]) {
        func fail(_ reason: String, _ at: String = path) { found.append(SchemaViolation(path: at, reason: reason)) }
        if case .bool(let accepts) = schema {
            if !accepts { fail("no value is allowed here") }
            return
        }
        guard let keywords = schema.objectValue else {
            fail("the schema is a \(schema.typeName), not an object")
            return
        }
        guard depth < 64 else {
            fail("schema nesting deeper than 64 (a $ref cycle?)")
            return
        }
        for key in keywords.keys.sorted()
        where !Self.keywords.contains(key) && !Self.annotations.contains(key) && !key.hasPrefix("x-") {
            fail("the validator does not support the schema keyword \"\(key)\"")
        }

        if let ref = keywords["$ref"] {
            guard let target = ref.stringValue else { return fail("$ref is not a string") }
            if target.hasPrefix("https://") {
                check(Self.metaSchemaStandIn, instance, path, depth: depth + 1, into: &found)
            } else if target.hasPrefix(Self.refPrefix), let resolved = schemas[String(target.dropFirst(Self.refPrefix.count))] {
                check(resolved, instance, path, depth: depth + 1, into: &found)
            } else {
                fail("$ref \(target) does not resolve")
            }
        }

        if let type = keywords["type"] {
            let names = type.arrayValue?.compactMap(\.stringValue) ?? type.stringValue.map { [$0] } ?? []
            if !names.contains(where: { Self.matches(type: $0, instance) }) {
                fail("expected \(names.joined(separator: " or ")), found \(Self.describe(instance))")
                return  // the other keywords would only repeat it
            }
        }

        if let allowed = keywords["enum"]?.arrayValue, !allowed.contains(where: { Self.equal($0, instance) }) {
            fail("\(Self.describe(instance)) is not one of \(allowed.map { String(decoding: $0.serialized(), as: UTF8.self) }.joined(separator: ", "))")
        }
        if let constant = keywords["const"], !Self.equal(constant, instance) {
            fail("\(Self.describe(instance)) is not \(String(decoding: constant.serialized(), as: UTF8.self))")
        }
        if let number = Self.number(instance) {
            if let minimum = keywords["minimum"].flatMap(Self.number), number < minimum {
                fail("\(Self.describe(instance)) is less than the minimum \(Self.describe(keywords["minimum"]!))")
            }
            if let maximum = keywords["maximum"].flatMap(Self.number), number > maximum {
                fail("\(Self.describe(instance)) is more than the maximum \(Self.describe(keywords["maximum"]!))")
            }
        }

        if case .object(let members) = instance {
            let properties = keywords["properties"]?.objectValue ?? [:]
            for name in keywords["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                fail("the required member \"\(name)\" is missing")
            }
            for name in members.keys.sorted() {
                let memberPath = path + "/" + name
                if let memberSchema = properties[name] {
                    check(memberSchema, members[name]!, memberPath, depth: depth + 1, into: &found)
                } else if let additional = keywords["additionalProperties"] {
                    if additional == .bool(false) {
                        fail("the member \"\(name)\" is not allowed (additionalProperties: false)", memberPath)
                    } else if additional != .bool(true) {
                        check(additional, members[name]!, memberPath, depth: depth + 1, into: &found)
                    }
                }
            }
        }
        if case .array(let items) = instance, let itemSchema = keywords["items"] {
            for (index, item) in items.enumerated() {
                check(itemSchema, item, path + "/\(index)", depth: depth + 1, into: &found)
            }
        }

        if let branches = keywords["allOf"]?.arrayValue {
            for branch in branches { check(branch, instance, path, depth: depth + 1, into: &found) }
        }
        if let branches = keywords["anyOf"]?.arrayValue {
            let failures = branches.map { violations(of: $0, by: instance, at: path) }
            if !failures.contains(where: \.isEmpty) {
                fail("matches none of the \(branches.count) anyOf schemas\(Self.closest(failures))")
            }
        }
        if let branches = keywords["oneOf"]?.arrayValue {
            let failures = branches.map { violations(of: $0, by: instance, at: path) }
            let matching = failures.filter(\.isEmpty).count
            if matching == 0 {
                fail("matches none of the \(branches.count) oneOf schemas\(Self.closest(failures))")
            } else if matching > 1 {
                fail("matches \(matching) of the oneOf schemas instead of exactly one")
            }
        }
    }

    /// The violations of the branch that came closest, to say why nothing matched.
    private static func closest(_ failures: [[SchemaViolation]]) -> String {
        guard let best = failures.min(by: { $0.count < $1.count }), !best.isEmpty else { return "" }
        return " (closest: " + best.prefix(3).map(\.description).joined(separator: "; ") + ")"
    }

    static func matches(type: String, _ value: JSONValue) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("object", .object), ("array", .array): return true
        case ("integer", .int), ("number", .int), ("number", .double): return true
        case ("integer", .double(let d)): return d.isFinite && d.rounded() == d
        default: return false
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// JSON equality: numbers by value (1 equals 1.0), objects by members.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        switch (a, b) {
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default: return a == b
        }
    }

    static func describe(_ value: JSONValue) -> String {
        let text = String(decoding: value.serialized(), as: UTF8.self)
        let shown = text.count > 80 ? String(text.prefix(77)) + "..." : text
        switch value {
        case .object, .array: return "\(value.typeName) \(shown)"
        default: return shown
        }
    }
}

/// The daemon's OpenRPC document, with the checks a test applies to what a daemon sends.
public struct OpenRPCDocument: Sendable {
    public let document: JSONValue
    public let validator: JSONSchemaValidator
    /// Method name → its object in `methods`.
    let methods: [String: JSONValue]
    /// Every error code the document lists (per method or in `x-commonErrors`) → its name.
    public let errorNames: [Int64: String]
    let commonErrorCodes: Set<Int64>
    /// Every event type with an `Event.<type>` schema.
    public let eventTypes: [String]
    /// The notifications of `x-notifications`, by method.
    let notifications: [String: JSONValue]

    public init(_ document: JSONValue) throws {
        guard let schemas = document["components"]?["schemas"]?.objectValue,
              let methodList = document["methods"]?.arrayValue
        else { throw TestSupportError("not an OpenRPC document with components/schemas and methods") }
        self.document = document
        validator = JSONSchemaValidator(schemas: schemas)
        var methods: [String: JSONValue] = [:]
        var names: [Int64: String] = [:]
        for method in methodList {
            guard let name = method["name"]?.stringValue else { continue }
            methods[name] = method
            for error in method["errors"]?.arrayValue ?? [] {
                if let code = error["code"]?.int64Value, let message = error["message"]?.stringValue { names[code] = message }
            }
        }
        var common: Set<Int64> = []
        for error in document["x-commonErrors"]?.arrayValue ?? [] {
            guard let code = error["code"]?.int64Value, let message = error["message"]?.stringValue else { continue }
            names[code] = message
            common.insert(code)
        }
        self.methods = methods
        errorNames = names
        commonErrorCodes = common
        eventTypes = schemas.keys.filter { $0.hasPrefix("Event.") }.map { String($0.dropFirst("Event.".count)) }.sorted()
        var notifications: [String: JSONValue] = [:]
        for notification in document["x-notifications"]?.arrayValue ?? [] {
            if let method = notification["method"]?.stringValue, let params = notification["params"] { notifications[method] = params }
        }
        self.notifications = notifications
    }

    /// The repository's snapshot of the document (`clients/python/openrpc.json`), read once.
    public static let snapshot: Result<OpenRPCDocument, any Error> = Result {
        let url = repositoryRoot.appendingPathComponent("clients/python/openrpc.json")
        let bytes = try Data(contentsOf: url)
        return try OpenRPCDocument(JSONValue.parse(Array(bytes)))
    }

    /// The repository this file is in (for the snapshot).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public var methodNames: [String] { methods.keys.sorted() }

    /// Violations of `method`'s result schema by `result`.
    public func checkResult(method: String, _ result: JSONValue) -> [SchemaViolation] {
        guard let schema = methods[method]?["result"]?["schema"] else {
            return [SchemaViolation(path: "", reason: "rpc.discover documents no method \(method), yet it answered with a result")]
        }
        return validator.violations(of: schema, by: result)
    }

    /// Violations by an `error` object: shape, a code the document lists for `method` (or in common), `data`
    /// against the code's `x-dataSchema`. `method` nil: a request the client could not name (any listed code).
    public func checkError(method: String?, _ error: JSONValue) -> [SchemaViolation] {
        guard let code = error["code"]?.int64Value else {
            return [SchemaViolation(path: "/code", reason: "the error has no integer code")]
        }
        var found: [SchemaViolation] = []
        if error["message"]?.stringValue == nil {
            found.append(SchemaViolation(path: "/message", reason: "the error has no string message"))
        }
        let listed = (method.flatMap { methods[$0] }?["errors"]?.arrayValue ?? []).compactMap { $0["code"]?.int64Value }
        let known = method.map { methods[$0] != nil } ?? false
        let allowed = known ? listed.contains(code) || commonErrorCodes.contains(code) : errorNames[code] != nil
        guard allowed, let name = errorNames[code] else {
            found.append(SchemaViolation(
                path: "/code", reason: "\(method ?? "the request") answered error \(code), which rpc.discover does not list for it"))
            return found
        }
        if let data = error["data"] {
            found += validator.violations(of: ["$ref": .string(JSONSchemaValidator.refPrefix + "ErrorData." + name)], by: data, at: "/data")
        }
        return found
    }

    /// Violations by a notification's `params`: `event` against `Event.<type>` then the `Event` union, any other
    /// notification against its `x-notifications` schema.
    public func checkNotification(method: String, _ params: JSONValue) -> [SchemaViolation] {
        if method == "event" {
            guard let type = params["type"]?.stringValue else {
                return [SchemaViolation(path: "/type", reason: "the event has no string type")]
            }
            guard validator.schemas["Event." + type] != nil else {
                return [SchemaViolation(path: "/type", reason: "rpc.discover has no schema Event.\(type)")]
            }
            let own = validator.violations(of: ["$ref": .string(JSONSchemaValidator.refPrefix + "Event." + type)], by: params)
            if !own.isEmpty { return own }
            return validator.violations(of: ["$ref": .string(JSONSchemaValidator.refPrefix + "Event")], by: params)
        }
        guard let schema = notifications[method] else {
            return [SchemaViolation(path: "", reason: "rpc.discover documents no notification \(method)")]
        }
        return validator.violations(of: schema, by: params)
    }

    /// Checks one message a daemon sent (a response, a notification, or a batch of responses) and records
    /// what it validated in `OpenRPCCoverage`. `methodForID` names the method of a response's request.
    /// Returns one line per violation, naming the message.
    public func checkMessage(_ message: JSONValue, methodForID: (JSONValue) -> String?) -> [String] {
        if case .array(let items) = message {
            return items.flatMap { checkMessage($0, methodForID: methodForID) }
        }
        guard message.objectValue != nil else { return ["the daemon sent a \(message.typeName), not a JSON-RPC message"] }
        func report(_ what: String, _ violations: [SchemaViolation]) -> [String] {
            guard !violations.isEmpty else { return [] }
            let text = String(decoding: message.serialized(), as: UTF8.self)
            return violations.map { "\(what) does not match rpc.discover at \($0)\n  in \(text.prefix(2000))" }
        }
        if let method = message["method"]?.stringValue, message["id"] == nil {
            let params = message["params"] ?? .null
            let type = method == "event" ? params["type"]?.stringValue ?? "?" : ""
            let violations = checkNotification(method: method, params)
            if violations.isEmpty { OpenRPCCoverage.record(method == "event" ? "event \(type)" : "notification \(method)") }
            return report(method == "event" ? "event \(type)" : "notification \(method)", violations)
        }
        let method = message["id"].flatMap(methodForID)
        if let error = message["error"] {
            let violations = checkError(method: method, error)
            if violations.isEmpty, let code = error["code"]?.int64Value, let name = errorNames[code] {
                OpenRPCCoverage.record("error \(code) \(name)")
            }
            return report("the error answering \(method ?? "a request")", violations)
        }
        if let result = message["result"], let method {
            let violations = checkResult(method: method, result)
            if violations.isEmpty { OpenRPCCoverage.record("result \(method)") }
            return report("the result of \(method)", violations)
        }
        return []
    }
}

/// What the tests validated, for `scripts/openrpc-coverage.sh`: one line per distinct item per process,
/// appended to `<build dir>/openrpc-coverage/<pid>.txt` (`event producer.refundIssued`,
/// `error -32010 notFound`, `result makePayment`, `notification subscriptionLost`).
public enum OpenRPCCoverage {
    private static let state = Mutex()

    public static var directory: URL { BuiltExecutable.directory.appendingPathComponent("openrpc-coverage") }

    public static func record(_ item: String) {
        state.withLock { seen in
            guard seen.insert(item).inserted else { return }
            let directory = Self.directory
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("\(getpid()).txt").path
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { return }
            let line = Array((item + "\n").utf8)
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }

    /// A lock around the set of items this process already wrote.
    private final class Mutex: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Set<String> = []
        func withLock(_ body: (inout Set<String>) -> Void) {
            lock.lock()
            defer { lock.unlock() }
            body(&seen)
        }
    }
}
