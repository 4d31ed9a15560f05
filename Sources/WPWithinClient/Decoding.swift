import WPWithinCore

// Typed results without Foundation: WPWithinCore's JSONValueDecoder reads the parsed answer directly (integers
// stay exact). Members a type does not know are ignored, so an older client keeps working with a newer daemon
// that adds some; a missing or mistyped member is `WPWithinClientError.invalidResponse`, never a crash.
extension WPWithinClient {
    /// Decodes `value` as `T` (a result or event type of this client, or any `Decodable`).
    public static func decodeValue<T: Decodable>(_ value: JSONValue, as type: T.Type = T.self) throws -> T {
        try JSONValueDecoder().decode(T.self, from: value)
    }

    /// A decoding failure as a JSON pointer and a reason: `/prices/0/amount: expected Int64, found string`.
    public static func describeDecodingError(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func pointer(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "(root)" : path.map { "/" + ($0.intValue.map(String.init) ?? $0.stringValue) }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(pointer(context.codingPath)): the member \"\(key.stringValue)\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(pointer(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// `result` of `method` decoded as `T`, or `.invalidResponse` naming the method, the type and the member.
    func decodeResult<T: Decodable>(_ result: JSONValue, of method: String, as type: T.Type = T.self) throws(WPWithinClientError) -> T {
        do {
            return try WPWithinClient.decodeValue(result)
        } catch {
            throw WPWithinClientError(
                .invalidResponse, socketPath: socketPath,
                "the result of \(method) is not a \(T.self): \(Self.describeDecodingError(error))"
            )
        }
    }

    /// Calls `method` and decodes its result as `T` (see `decodeResult`).
    func typedCall<T: Decodable>(_ method: String, params: [String: JSONValue]? = nil, as type: T.Type = T.self) async throws -> T {
        try decodeResult(try await call(method, params: params), of: method)
    }
}
