#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinClient
import WPWithinCore

/// Pure formatting for wpwctl: everything printed goes through here, so it can be tested without a daemon.
enum Output {
    /// Compact, one-line JSON with sorted keys (the `--json` format).
    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else {
            return "null"
        }
        return text
    }

    /// How one value reads in a table cell: strings bare, lists of scalars comma-separated, the rest as JSON.
    static func cell(_ value: JSONValue) -> String {
        switch value {
        case .null: return "-"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        case .array(let items) where items.allSatisfy(\.isScalar):
            return items.isEmpty ? "-" : items.map(cell).joined(separator: ", ")
        case .array, .object: return json(value)
        }
    }

    /// An aligned key/value table: keys in `order` first (when present), then the others sorted.
    static func table(_ object: [String: JSONValue], order: [String] = []) -> String {
        let known = order.filter { object[$0] != nil }
        let others = object.keys.filter { !order.contains($0) }.sorted()
        let keys = known + others
        guard let width = keys.map(\.count).max() else { return "" }
        return keys.map { key in
            key + String(repeating: " ", count: width - key.count) + "  " + cell(object[key]!)
        }.joined(separator: "\n")
    }

    /// A result for humans: objects as tables, anything else as a cell.
    static func readable(_ value: JSONValue, order: [String] = []) -> String {
        if let object = value.objectValue { return table(object, order: order) }
        return cell(value)
    }

    /// The result as printed: `--json` gives compact JSON, otherwise a table.
    static func result(_ value: JSONValue, json asJSON: Bool, order: [String] = []) -> String {
        asJSON ? json(value) : readable(value, order: order)
    }

    static let statusOrder = ["ready", "version", "pid", "uptimeSeconds", "connections", "roles", "socketPath", "stateDir"]
    static let deviceOrder = ["serverId", "name", "description", "version", "roles"]

    /// One line per event: `--json` gives the notification's params; otherwise `seq time type key=value…`.
    static func event(_ event: WPWithinClient.Event, json asJSON: Bool) -> String {
        if asJSON { return json(event.params) }
        var line = "\(event.seq)  \(event.time)  \(event.type)"
        if let object = event.params.objectValue {
            for key in object.keys.sorted() where !["seq", "type", "time"].contains(key) {
                let value = object[key]!
                let text = value.stringValue.map { $0.contains(" ") || $0.isEmpty ? json(value) : $0 } ?? json(value)
                line += "  \(key)=\(text)"
            }
        }
        return line
    }

    /// The stderr text for an RPC error: `error CODE: message` (+ data), or the error object with `--json`.
    static func rpcError(_ error: WPWError, json asJSON: Bool) -> String {
        if asJSON { return json(JSONRPC.errorObject(error)) }
        var text = "wpwctl: error \(error.code.rawValue): \(error.message)"
        if let data = error.data { text += " (data: \(json(data)))" }
        return text
    }

    /// The stderr text for a client failure (cannot connect, connection lost).
    static func clientError(_ error: WPWithinClientError) -> String {
        if error.isConnectFailure, let path = error.socketPath {
            return "wpwctl: cannot connect to \(path): \(error.message)"
        }
        return "wpwctl: \(error.description)"
    }

    /// Parses the `call` params argument: a JSON object (named params), or nil when absent.
    static func parseParams(_ text: String?) throws(ParamsError) -> [String: JSONValue]? {
        guard let text else { return nil }
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw ParamsError(message: "params are not valid JSON: \(text)")
        }
        switch value {
        case .object(let object): return object
        case .null: return nil
        default: throw ParamsError(message: "params must be a JSON object (named params), not \(value.typeName == "array" || value.typeName == "object" ? "an" : "a") \(value.typeName)")
        }
    }

    struct ParamsError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

extension JSONValue {
    fileprivate var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }
}
