import WPWithinCore

/// Bounds what an error reply repeats of the request, so that a huge method name, parameter name or value
/// is answered with a small error (not echoed back, once in the message and again in `data`).
///
/// The dispatcher cuts the client's text it quotes itself with ``bound(_:limit:)``, and passes every error
/// it answers, whoever raised it, through ``bounded(_:)`` on the way out: the one place that holds for
/// the method handlers' errors too.
public enum RPCEcho {
    /// At most this many bytes (UTF-8) of one quoted piece of the request, and of any string in `data`.
    public static let maxBytes = 64
    /// At most this many bytes (UTF-8) of an error's message.
    public static let maxMessageBytes = 256
    /// Ends a text that was cut (3 bytes, counted in the limits).
    public static let marker = "…"

    /// `text` when it has at most `limit` bytes of UTF-8; else its longest prefix that fits in `limit` bytes
    /// together with ``marker``, cut between two Unicode scalars (so still valid UTF-8), then the marker.
    public static func bound(_ text: String, limit: Int = maxBytes) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        let budget = max(0, limit - marker.utf8.count)
        var end = utf8.index(utf8.startIndex, offsetBy: budget)
        // Back up over continuation bytes (10xxxxxx) to the start of a scalar.
        while end > utf8.startIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return String(decoding: utf8[..<end], as: UTF8.self) + marker
    }

    /// The error as it may be sent: the message cut to ``maxMessageBytes``, every string and object key in
    /// `data` (at any depth) cut to ``maxBytes``. The code is kept.
    public static func bounded(_ error: WPWError) -> WPWError {
        WPWError(error.code, bound(error.message, limit: maxMessageBytes), data: error.data.map(bounded))
    }

    static func bounded(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text):
            return .string(bound(text))
        case .array(let items):
            return .array(items.map(bounded))
        case .object(let members):
            var result: [String: JSONValue] = [:]
            result.reserveCapacity(members.count)
            for (key, member) in members { result[bound(key)] = bounded(member) }
            return .object(result)
        default:
            return value
        }
    }
}
