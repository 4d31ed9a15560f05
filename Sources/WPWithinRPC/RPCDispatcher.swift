import Logging
import WPWithinCore

/// Turns one received line into the reply to write, per JSON-RPC 2.0.
///
/// The dispatcher knows nothing of sockets: the server hands it a line and writes back what it returns.
public final class RPCDispatcher: Sendable {
    public let methods: [String: RPCMethod]
    /// Method names in table order (the OpenRPC document lists them in this order).
    public let methodNames: [String]
    public let maxBatchSize: Int
    private let logger: Logger
    private let observer: RPCCallObserver?

    /// What to do with one line.
    public struct Outcome: Sendable {
        /// The reply to write (nil for notifications and all-notification batches).
        public var reply: JSONValue?
        /// Close the connection after writing the reply (parse errors).
        public var close: Bool
    }

    /// - Parameter observer: told of every call's outcome (metrics).
    public init(methods: [RPCMethod], info: OpenRPC.Info, maxBatchSize: Int = 1000, logger: Logger, observer: RPCCallObserver? = nil) {
        var table: [String: RPCMethod] = [:]
        var names: [String] = []
        for method in methods {
            precondition(table[method.name] == nil, "duplicate RPC method \(method.name)")
            table[method.name] = method
            names.append(method.name)
        }
        let described = names.map { table[$0]! }
        let discover = OpenRPC.discoverMethod(info: info, methods: described)
        table[discover.name] = discover
        names.insert(discover.name, at: 0)
        self.methods = table
        self.methodNames = names
        self.maxBatchSize = maxBatchSize
        self.logger = logger
        self.observer = observer
    }

    /// A line that is not JSON (the server answers it with ``parseErrorReply`` and closes).
    public func recordParseError() { observer?(nil, .parseError) }

    /// The reply to a line that is not valid JSON (UTF-8); the connection closes after it.
    public static let parseErrorReply = JSONRPC.response(id: .null, error: WPWError(.parseError, "Parse error: not valid JSON"))

    /// Parses one line (without its newline); nil when it is not valid JSON.
    public static func parse<Bytes: Collection<UInt8>>(_ line: Bytes) -> JSONValue? {
        try? JSONValue.parse(line)
    }

    /// Handles one line (without its newline).
    public func handle<Bytes: Collection<UInt8>>(line: Bytes, connection: RPCConnection) async -> Outcome {
        guard let message = Self.parse(line) else {
            recordParseError()
            return Outcome(reply: Self.parseErrorReply, close: true)
        }
        let hooks = ReplyHooks()
        defer { hooks.run() }
        return Outcome(reply: await handle(message: message, connection: connection, hooks: hooks), close: false)
    }

    /// Handles one parsed message: a request, a notification or a batch. Nil when no reply is due.
    /// Run `hooks` after the reply is written.
    public func handle(message: JSONValue, connection: RPCConnection, hooks: ReplyHooks) async -> JSONValue? {
        switch message {
        case .array(let items):
            guard !items.isEmpty else { return invalidRequest(.null, "Invalid Request: empty batch") }
            guard items.count <= maxBatchSize else {
                return invalidRequest(.null, "Invalid Request: batch larger than \(maxBatchSize)")
            }
            var replies: [JSONValue] = []
            for item in items {
                if let reply = await handleSingle(item, connection: connection, hooks: hooks) { replies.append(reply) }
            }
            return replies.isEmpty ? nil : .array(replies)
        default:
            return await handleSingle(message, connection: connection, hooks: hooks)
        }
    }

    private func invalidRequest(_ id: JSONRPC.ID, _ message: String, data: JSONValue? = nil) -> JSONValue {
        observer?(nil, .invalidRequest)
        return JSONRPC.response(id: id, error: RPCEcho.bounded(WPWError(.invalidRequest, message, data: data)))
    }

    /// The reply line (with `\n`) to `message` when it can be given without suspending (a single request or
    /// notification for a method with a ``RPCMethod/syncHandler``, or an invalid one); `.none` when it must
    /// go through ``handle(message:connection:hooks:)``. The outer optional is "handled here", the inner the
    /// reply (nil for a notification). The response envelope is written without building it.
    public func handleInlineLine(message: JSONValue, connection: RPCConnection, hooks: ReplyHooks) -> [UInt8]?? {
        guard case .object(let object) = message else { return .none }
        if case .string(let name)? = object["method"], let method = methods[name], method.syncHandler == nil { return .none }
        switch prepare(message, connection: connection, hooks: hooks) {
        case .reply(let reply):
            return .some(reply.map { value in
                var bytes = value.serialized()
                bytes.append(0x0A)
                return bytes
            })
        case .call(let id, let method, let params, let context):
            guard let sync = method.syncHandler else { return .none }
            let result = Self.run(method.name, logger: logger) { try sync(params, context) }
            observer?(method.name, result.failureCode)
            guard let id else { return .some(nil) }
            return .some(JSONRPC.responseLine(id: id, result: result.mapError { RPCEcho.bounded($0) }))
        }
    }

    private enum Prepared {
        /// Answered already (an invalid request, an unknown method, bad params); nil: a notification.
        case reply(JSONValue?)
        case call(id: JSONRPC.ID?, method: RPCMethod, params: RPCParams, context: RPCContext)
    }

    /// Validates one request or notification up to the handler call.
    private func prepare(_ message: JSONValue, connection: RPCConnection, hooks: ReplyHooks) -> Prepared {
        guard let object = message.objectValue else {
            return .reply(invalidRequest(.null, "Invalid Request: expected an object"))
        }
        let idValue = object["id"]
        let id: JSONRPC.ID?
        if let idValue {
            guard let parsed = JSONRPC.ID(json: idValue) else {
                return .reply(invalidRequest(.null, "Invalid Request: id must be a string, a number or null"))
            }
            id = parsed
        } else {
            id = nil
        }
        guard object["jsonrpc"] == .string(JSONRPC.version) else {
            return .reply(invalidRequest(id ?? .null, "Invalid Request: jsonrpc must be \"2.0\""))
        }
        guard case .string(let name)? = object["method"] else {
            return .reply(invalidRequest(id ?? .null, "Invalid Request: method must be a string"))
        }
        for key in object.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            let member = RPCEcho.bound(key)
            return .reply(invalidRequest(id ?? .null, "Invalid Request: unknown member \(member)", data: ["member": .string(member)]))
        }
        let failed = { (error: WPWError) -> Prepared in
            // A method's name only when it is served (a client's made-up name must not become a label).
            self.observer?(self.methods[name] == nil ? nil : name, error.code)
            return .reply(self.reply(id: id, result: .failure(error)))
        }
        guard let method = methods[name] else {
            let quoted = RPCEcho.bound(name)
            return failed(WPWError(.methodNotFound, "Method not found: \(quoted)", data: ["method": .string(quoted)]))
        }
        let params: RPCParams
        switch object["params"] {
        case nil, .null?:
            params = RPCParams()
        case .object(let values)?:
            params = RPCParams(values)
        case .array?:
            return failed(WPWError.invalidParams(field: "params", "params must be an object (by name)"))
        default:
            return failed(WPWError(.invalidRequest, "Invalid Request: params must be an object"))
        }
        if let error = Self.validate(params, against: method.params) { return failed(error) }
        return .call(id: id, method: method, params: params, context: RPCContext(connection: connection, expectsReply: id != nil, hooks: hooks))
    }

    private func reply(id: JSONRPC.ID?, result: Result<JSONValue, WPWError>) -> JSONValue? {
        guard let id else { return nil }
        switch result {
        case .success(let value): return JSONRPC.response(id: id, result: value)
        case .failure(let error): return JSONRPC.response(id: id, error: RPCEcho.bounded(error))
        }
    }

    /// One request or notification; nil when no reply is due.
    func handleSingle(_ message: JSONValue, connection: RPCConnection, hooks: ReplyHooks) async -> JSONValue? {
        switch prepare(message, connection: connection, hooks: hooks) {
        case .reply(let reply):
            return reply
        case .call(let id, let method, let params, let context):
            let result: Result<JSONValue, WPWError>
            do {
                result = .success(try await method.handler(params, context))
            } catch {
                result = .failure(Self.mapError(error, method: method.name, logger: logger))
            }
            observer?(method.name, result.failureCode)
            return reply(id: id, result: result)
        }
    }

    private static func run(_ name: String, logger: Logger, _ body: () throws -> JSONValue) -> Result<JSONValue, WPWError> {
        do {
            return .success(try body())
        } catch {
            return .failure(mapError(error, method: name, logger: logger))
        }
    }

    private static func mapError(_ error: any Error, method name: String, logger: Logger) -> WPWError {
        if let error = error as? WPWError { return error }
        let errorID = UInt64.random(in: 1...UInt64(UInt32.max))
        logger.error(
            "RPC method failed with an unexpected error",
            metadata: ["rpc.method": "\(name)", "rpc.error_id": "\(errorID)", "error": "\(error)"]
        )
        return WPWError(.internalError, "Internal error", data: ["errorId": .int(Int64(errorID))])
    }

    /// Checks names, presence and JSON types against the published parameter list.
    static func validate(_ params: RPCParams, against specs: [RPCParam]) -> WPWError? {
        for key in params.values.keys.sorted() where !specs.contains(where: { $0.name == key }) {
            let quoted = RPCEcho.bound(key)
            return WPWError.invalidParams(field: quoted, "unknown parameter \(quoted)")
        }
        for spec in specs {
            guard let value = params[spec.name] else {
                if spec.required { return WPWError.invalidParams(field: spec.name, "missing required parameter \(spec.name)") }
                continue
            }
            guard let type = spec.schema["type"]?.stringValue else { continue }
            let matches: Bool
            switch type {
            case "string": matches = value.stringValue != nil
            case "integer": matches = value.int64Value != nil
            case "number": matches = value.doubleValue != nil
            case "boolean": matches = value.boolValue != nil
            case "array": matches = value.arrayValue != nil
            case "object": matches = value.objectValue != nil
            default: matches = true
            }
            if !matches {
                return WPWError.invalidParams(field: spec.name, "\(spec.name) must be \(type == "integer" ? "an" : "a") \(type), not \(value.typeName)")
            }
            if let minimum = spec.schema["minimum"]?.int64Value, let int = value.int64Value, int < minimum {
                return WPWError.invalidParams(field: spec.name, "\(spec.name) must be at least \(minimum)")
            }
            if let maximum = spec.schema["maximum"]?.int64Value, let int = value.int64Value, int > maximum {
                return WPWError.invalidParams(field: spec.name, "\(spec.name) must be at most \(maximum)")
            }
        }
        return nil
    }
}

/// Told of each call: the method's name (nil for a line that named no served method: parse errors, invalid
/// requests, unknown methods) and the error code it was answered with (nil: a result).
public typealias RPCCallObserver = @Sendable (_ method: String?, _ error: WPWError.Code?) -> Void

extension Result where Failure == WPWError {
    fileprivate var failureCode: WPWError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
