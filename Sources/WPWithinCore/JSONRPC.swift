/// JSON-RPC 2.0 message shapes shared by the server, the Swift client and the tests.
public enum JSONRPC {
    public static let version = "2.0"

    /// A request id: a string or a number (JSON-RPC 2.0 §4). Null ids are answered but discouraged.
    public enum ID: Sendable, Hashable, CustomStringConvertible {
        case number(Int64)
        case string(String)
        case null

        public var json: JSONValue {
            switch self {
            case .number(let n): return .int(n)
            case .string(let s): return .string(s)
            case .null: return .null
            }
        }

        public init?(json: JSONValue) {
            switch json {
            case .int(let n): self = .number(n)
            case .string(let s): self = .string(s)
            case .null: self = .null
            case .double(let d) where d.rounded() == d && abs(d) < 9e15: self = .number(Int64(d))
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .number(let n): return String(n)
            case .string(let s): return s
            case .null: return "null"
            }
        }
    }

    /// The `error` member of a response.
    public static func errorObject(_ error: WPWError) -> JSONValue {
        var object: [String: JSONValue] = ["code": .int(Int64(error.code.rawValue)), "message": .string(error.message)]
        if let data = error.data { object["data"] = data }
        return .object(object)
    }

    public static func response(id: ID, result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id.json, "result": result]
    }

    public static func response(id: ID, error: WPWError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id.json, "error": errorObject(error)]
    }

    /// The bytes of `response(id:result:)` (or `response(id:error:)`), plus `\n`, written without building the
    /// envelope object: identical to `.serialized()` of it (keys sorted: error, id, jsonrpc, result).
    public static func responseLine(id: ID, result: Result<JSONValue, WPWError>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        switch result {
        case .success(let value):
            out.append(contentsOf: #"{"id":"#.utf8)
            id.json.write(to: &out)
            out.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
            value.write(to: &out)
        case .failure(let error):
            out.append(contentsOf: #"{"error":"#.utf8)
            errorObject(error).write(to: &out)
            out.append(contentsOf: #","id":"#.utf8)
            id.json.write(to: &out)
            out.append(contentsOf: #","jsonrpc":"2.0""#.utf8)
        }
        out.append(0x7D)
        out.append(0x0A)
        return out
    }

    public static func notification(method: String, params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": .string(method), "params": params]
    }

    /// Reads a WPWError back from a response's `error` member.
    public static func decodeError(_ value: JSONValue) -> WPWError? {
        guard let object = value.objectValue, let code = object["code"]?.int64Value else { return nil }
        return WPWError(WPWError.Code(rawValue: Int(code)), object["message"]?.stringValue ?? "", data: object["data"])
    }
}
