import WPWithinCore
import WPWithinRPC

/// The payload of `producer.error` / `consumer.error` events: what failed, with the error's stable code.
enum ErrorEvent {
    /// Errors that are the calling app's own mistake (bad params, unknown ids) get no event: the caller
    /// already has the answer; nor do refusals of the spending policy (`consumer.spendingRefused` tells those).
    /// Everything else (peers, the gateway, internal failures) does.
    static func isReported(_ error: any Error) -> Bool {
        guard let error = error as? WPWError else { return true }
        return ![
            WPWError.Code.invalidParams, .invalidRequest, .notFound, .methodNotFound,
            .spendingLimitExceeded, .producerNotAllowed, .serviceTypeNotAllowed, .currencyNotAllowed,
        ].contains(error.code)
    }

    static func payload(operation: String, error: any Error, details: [String: JSONValue]) -> [String: JSONValue] {
        var payload = details
        payload["operation"] = .string(operation)
        if let error = error as? WPWError {
            payload["code"] = .int(Int64(error.code.rawValue))
            // Bounded like an RPC error reply: a message may quote what a client or peer sent.
            payload["message"] = .string(RPCEcho.bound(error.message, limit: RPCEcho.maxMessageBytes))
        } else {
            payload["code"] = .int(Int64(WPWError.Code.internalError.rawValue))
            payload["message"] = .string("internal error")
        }
        return payload
    }
}
