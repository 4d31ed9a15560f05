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

    /// An aligned key/value table: keys in `order` first (when present), then the others sorted. Money is
    /// shown as money (`moneyFields`).
    static func table(_ object: [String: JSONValue], order: [String] = []) -> String {
        let object = moneyFields(object)
        let known = order.filter { object[$0] != nil }
        let others = object.keys.filter { !order.contains($0) }.sorted()
        let keys = known + others
        guard let width = keys.map(\.count).max() else { return "" }
        return keys.map { key in
            (key + String(repeating: " ", count: width - key.count) + "  " + cell(object[key]!)).trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }

    /// Objects as a table with a header line (the keys): one row each, columns `columns`, else every key
    /// (in `order` first, then sorted). Numbers and money are aligned right. No rows: `empty`.
    static func columns(_ rows: [[String: JSONValue]], _ columns: [String]? = nil, order: [String] = [], empty: String = "(none)") -> String {
        guard !rows.isEmpty else { return empty }
        let rows = rows.map(moneyFields)
        let keys = columns ?? {
            let all = Set(rows.flatMap(\.keys))
            return order.filter(all.contains) + all.subtracting(order).sorted()
        }()
        let cells = rows.map { row in keys.map { row[$0].map(cell) ?? "-" } }
        // Right: columns of numbers and money (and blanks), at least one.
        let rightAligned = keys.map { key in
            let values = rows.compactMap { $0[key] }.filter { !$0.isNull }
            return !values.isEmpty && values.allSatisfy { value in
                switch value {
                case .int, .double: return true
                case .string(let text): return isMoney(text)
                default: return false
                }
            }
        }
        let widths = keys.indices.map { column in ([keys[column]] + cells.map { $0[column] }).map(\.count).max()! }
        func line(_ values: [String]) -> String {
            values.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - values[column].count)
                return rightAligned[column] ? padding + values[column] : values[column] + padding
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        return ([line(keys)] + cells.map(line)).joined(separator: "\n")
    }

    /// A result for humans: objects as key/value tables, lists of objects as column tables, the rest as a cell.
    static func readable(_ value: JSONValue, order: [String] = []) -> String {
        if let object = value.objectValue { return table(object, order: order) }
        if let items = value.arrayValue, !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) {
            return columns(items.compactMap(\.objectValue), order: order)
        }
        return cell(value)
    }

    /// The result as printed: `--json` gives compact JSON, otherwise a table.
    static func result(_ value: JSONValue, json asJSON: Bool, order: [String] = []) -> String {
        asJSON ? json(value) : readable(value, order: order)
    }

    // MARK: Money

    /// An amount of money as wpwctl always prints it: the minor units in major units with the currency's
    /// ISO 4217 decimals, then the code: `1250` `GBP` is `12.50 GBP` (`500 JPY`, `1.250 BHD`). A currency the
    /// daemon does not know prints with two decimals.
    static func money(minorUnits: Int64, currencyCode: String) -> String {
        WPWithinClient.formatMoney(minorUnits: minorUnits, currencyCode: currencyCode)
    }

    /// The members that hold amounts in minor units next to a `currencyCode` in the daemon's results and events.
    static let moneyKeys = ["amount", "totalPrice", "totalPaid", "totalAmount", "refundAmount", "amountRefunded"]

    /// `object` with its amounts as money text (`"totalPaid": "15.00 GBP"`) and `currencyCode` folded into them.
    static func moneyFields(_ object: [String: JSONValue]) -> [String: JSONValue] {
        guard let code = object["currencyCode"]?.stringValue else { return object }
        var result = object
        var folded = false
        for key in moneyKeys {
            if let minor = object[key]?.int64Value {
                result[key] = .string(money(minorUnits: minor, currencyCode: code))
                folded = true
            }
        }
        if folded { result["currencyCode"] = nil }
        return result
    }

    /// True for text `money(minorUnits:currencyCode:)` made.
    static func isMoney(_ text: String) -> Bool {
        let parts = text.split(separator: " ")
        return parts.count == 2 && parts[1].count == 3 && parts[1].allSatisfy(\.isUppercase)
            && parts[0].allSatisfy { $0.isNumber || $0 == "." || $0 == "-" }
    }

    /// A number of seconds as short text: `10`, `0.5`.
    static func seconds(_ value: Double) -> String { cell(.double(value)) }

    /// The objects in a list (others left out); nil or a non-list is no objects.
    static func objects(_ value: JSONValue?) -> [[String: JSONValue]] {
        value?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    // Columns and key orders of the commands' tables: the daemon's own member names.
    static let deviceColumns = ["serverId", "deviceName", "url", "serviceTypes", "deviceDescription"]
    static let serviceColumns = ["serviceId", "name", "serviceType", "description"]
    static let priceColumns = ["priceId", "description", "amount", "unitId", "unitDescription"]
    static let purchaseColumns = [
        "purchaseId", "serviceId", "priceId", "totalPaid", "unitsBought", "unitsDelivered", "unitsInFlight", "unitsRemaining",
        "unitsRefunded", "unsettled", "expiry", "serverId",
    ]
    static let refundOrder = ["purchaseId", "refundStatus", "unitsRefunded", "amountRefunded", "unitsDelivered", "unitsRemaining", "unitsBought", "totalPaid"]
    static let deliveryOrder = ["purchaseId", "unitsJustSupplied", "unitsDelivered", "unitsRemaining", "producerUnitsRemaining", "unitsBought"]
    static let catalogColumns = ["serviceId", "name", "serviceType", "priceId", "description", "amount", "unitId", "unitDescription", "stock"]
    static let methodColumns = ["name", "summary"]

    static let statusOrder = ["ready", "health", "spending", "version", "pid", "uptimeSeconds", "connections", "roles", "socketPath", "stateDir"]

    /// `getStatus.health` in one line: `ok`, or `DEGRADED:` and what is wrong (then what is unknown).
    static func healthSummary(_ health: JSONValue) -> String {
        var problems: [String] = []
        if health["store"]?["writable"] == false {
            problems.append(health["store"]?["lastCommitFailed"] == true ? "store: last commit failed" : "store: no room for new money")
        }
        if health["gateway"]?["reachable"] == false { problems.append("gateway unreachable") }
        if health["discovery"]?["broadcaster"] == false { problems.append("broadcaster not running") }
        if health["discovery"]?["scanner"] == false { problems.append("scanner not running") }
        var text = health["ok"] == true ? "ok" : "DEGRADED: " + (problems.isEmpty ? "see --json" : problems.joined(separator: ", "))
        if health["gateway"]?["reachable"] == .null { text += " (gateway not called yet)" }
        return text
    }
    static let deviceOrder = ["serverId", "name", "description", "version", "roles"]

    /// The spending budgets (`getStatus.consumer.budgets`, `getSpendingPolicy.budgets`) in one line:
    /// `GBP day: 35.00 GBP of 50.00 GBP left; …`, or `no budgets`.
    static func budgetSummary(_ budgets: JSONValue?) -> String {
        let lines = objects(budgets).map { budget -> String in
            let code = budget["currencyCode"]?.stringValue ?? "?"
            let left = money(minorUnits: budget["remaining"]?.int64Value ?? 0, currencyCode: code)
            let limit = money(minorUnits: budget["limit"]?.int64Value ?? 0, currencyCode: code)
            var text = "\(code) \(budget["window"]?.stringValue ?? "?"): \(left) of \(limit) left"
            if let pending = budget["pending"]?.int64Value, pending > 0 {
                text += " (\(money(minorUnits: pending, currencyCode: code)) pending)"
            }
            return text
        }
        return lines.isEmpty ? "no budgets" : lines.joined(separator: "; ")
    }

    static let budgetColumns = ["currencyCode", "window", "limit", "spent", "purchased", "pending", "remaining"]

    /// One line per event: `--json` gives the notification's params; otherwise `seq time type key=value…`.
    static func event(_ event: WPWithinClient.Event, json asJSON: Bool) -> String {
        if asJSON { return json(event.params) }
        var line = "\(event.seq)  \(event.time)  \(event.type)"
        if let object = event.params.objectValue.map(moneyFields) {
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

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
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
