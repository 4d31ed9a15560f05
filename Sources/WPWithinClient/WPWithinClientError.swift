#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the client itself: connecting, the connection, or the bytes on it.
///
/// Errors that the daemon answers with (a JSON-RPC `error` object) are thrown as `WPWError` instead.
/// `code` is stable and can be switched on; `message` is for humans and names the socket path.
public struct WPWithinClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Nothing exists at the socket path (ENOENT).
        public static let noSuchSocket = Code(rawValue: "noSuchSocket")
        /// A socket file exists but nobody listens on it (ECONNREFUSED): the daemon is not running.
        public static let connectionRefused = Code(rawValue: "connectionRefused")
        /// The socket or a directory above it may not be opened by this user (EACCES/EPERM).
        public static let permissionDenied = Code(rawValue: "permissionDenied")
        /// The path exists but is not a socket.
        public static let notASocket = Code(rawValue: "notASocket")
        /// The path is longer than a Unix socket address can hold.
        public static let pathTooLong = Code(rawValue: "pathTooLong")
        /// Any other failure to connect.
        public static let connectFailed = Code(rawValue: "connectFailed")
        /// `call` before `connect`, or after `close`.
        public static let notConnected = Code(rawValue: "notConnected")
        /// The daemon closed the connection (or it broke) while calls or an event stream were waiting.
        public static let connectionClosed = Code(rawValue: "connectionClosed")
        /// The daemon sent a line longer than the client's `maxLineLength`; the connection was closed.
        public static let lineTooLong = Code(rawValue: "lineTooLong")
        /// The daemon sent something that is not a JSON-RPC 2.0 message, or a result of the wrong shape.
        public static let invalidResponse = Code(rawValue: "invalidResponse")
        /// The event stream ended because events were lost: the daemon dropped the subscription
        /// (`subscriptionLost`), or the consumer fell `eventBufferLimit` events behind. Resubscribe with
        /// `resumeFrom` set to the last `seq` handled.
        public static let subscriptionLost = Code(rawValue: "subscriptionLost")
        /// `connect` on a client that is already connected (or was closed).
        public static let alreadyConnected = Code(rawValue: "alreadyConnected")
        /// The request could not be encoded as JSON (for example a NaN double).
        public static let invalidRequest = Code(rawValue: "invalidRequest")
        /// A call got no answer within its timeout (the client's, or the one given to `call`). The answer,
        /// if it comes later, is dropped; the daemon may still have completed the call.
        public static let timeout = Code(rawValue: "timeout")
        /// A parameter was refused before sending: outside the range or of the shape the method's params
        /// schema in `rpc.discover` allows (`numberOfUnits` 1…2147483647, `units` ≥ 1, `timeoutMs`
        /// 0…600000, …). Nothing was sent.
        public static let invalidParams = Code(rawValue: "invalidParams")

        public var description: String { rawValue }
    }

    public var code: Code
    /// The socket path the client was using, when there was one.
    public var socketPath: String?
    public var message: String
    /// The `errno` behind a connect failure, when there was one.
    public var errno: Int32?

    public init(_ code: Code, socketPath: String? = nil, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.socketPath = socketPath
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let socketPath { return "\(socketPath): \(message)" }
        return message
    }

    /// True for the failures that mean "could not reach the daemon" (as opposed to a broken conversation).
    public var isConnectFailure: Bool {
        [.noSuchSocket, .connectionRefused, .permissionDenied, .notASocket, .pathTooLong, .connectFailed].contains(code)
    }

    /// The error for a failed `connect(2)` with this errno.
    public static func connectFailure(path: String, errno code: Int32) -> WPWithinClientError {
        switch code {
        case ENOENT:
            return .init(.noSuchSocket, socketPath: path, "no such socket (is wpwithind running?)", errno: code)
        case ECONNREFUSED:
            return .init(.connectionRefused, socketPath: path, "stale socket, daemon not running (connection refused)", errno: code)
        case EACCES, EPERM:
            return .init(.permissionDenied, socketPath: path, "permission denied", errno: code)
        case ENOTSOCK:
            return .init(.notASocket, socketPath: path, "not a socket", errno: code)
        case ENOTDIR:
            return .init(.noSuchSocket, socketPath: path, "no such socket (a path component is not a directory)", errno: code)
        default:
            let reason = String(cString: strerror(code))
            return .init(.connectFailed, socketPath: path, "cannot connect: \(reason)", errno: code)
        }
    }
}
