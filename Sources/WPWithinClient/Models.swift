#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinCore

extension WPWithinClient {
    /// The result of `getDevice`.
    public struct Device: Decodable, Sendable, Hashable {
        /// Lowercase UUID of this daemon.
        public var serverId: String
        public var name: String
        public var description: String?
        public var version: String
        /// `"producer"` and/or `"consumer"`.
        public var roles: [String]

        public init(serverId: String, name: String, description: String?, version: String, roles: [String]) {
            self.serverId = serverId
            self.name = name
            self.description = description
            self.version = version
            self.roles = roles
        }
    }

    /// The result of `getStatus`.
    public struct Status: Decodable, Sendable, Hashable {
        public var version: String
        public var uptimeSeconds: Double
        /// Open RPC connections, this one included.
        public var connections: Int
        public var socketPath: String
        public var stateDir: String
        public var ready: Bool
        public var roles: [String]
        public var pid: Int32

        public init(
            version: String, uptimeSeconds: Double, connections: Int, socketPath: String, stateDir: String, ready: Bool,
            roles: [String], pid: Int32
        ) {
            self.version = version
            self.uptimeSeconds = uptimeSeconds
            self.connections = connections
            self.socketPath = socketPath
            self.stateDir = stateDir
            self.ready = ready
            self.roles = roles
            self.pid = pid
        }
    }

    /// The result of `subscribe`.
    public struct Subscription: Decodable, Sendable, Hashable {
        public var subscribed: Bool
        /// The sequence number of the newest event the daemon had when it answered.
        public var lastSeq: Int64?
        /// How many kept events were replayed because of `resumeFrom`.
        public var replayed: Int64?
        /// True when some events after `resumeFrom` were already gone from the daemon's journal.
        public var truncated: Bool?
    }

    /// One `event` notification from the daemon.
    public struct Event: Sendable, Hashable {
        /// Strictly increasing per daemon.
        public var seq: Int64
        public var type: String
        /// RFC 3339 timestamp as sent by the daemon.
        public var time: String
        /// The whole `params` object of the notification (including `seq`, `type` and `time`).
        public var params: JSONValue

        public init(seq: Int64, type: String, time: String, params: JSONValue) {
            self.seq = seq
            self.type = type
            self.time = time
            self.params = params
        }

        /// Reads an event from a notification's `params`; nil when `seq` or `type` is missing.
        public init?(params: JSONValue) {
            guard let seq = params["seq"]?.int64Value, let type = params["type"]?.stringValue else { return nil }
            self.init(seq: seq, type: type, time: params["time"]?.stringValue ?? "", params: params)
        }

        /// `time` parsed as a date, when it is valid RFC 3339 (with or without fractional seconds).
        public var date: Date? {
            (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time))
                ?? (try? Date.ISO8601FormatStyle().parse(time))
        }
    }
}

extension WPWithinClient {
    /// Money as people read it: the amount in minor units (as the daemon sends it) in major units with the
    /// currency's ISO 4217 decimals, then the code: `1250`, `"GBP"` is `12.50 GBP` (`500 JPY`, `1.250 BHD`).
    /// A currency the daemon does not know is shown with two decimals.
    public static func formatMoney(minorUnits: Int64, currencyCode: String) -> String {
        let currency = Currency(code: currencyCode) ?? Currency(code: "GBP")!
        return Money(minorUnits: minorUnits, currency: currency).formattedAmount + " " + currencyCode
    }
}

extension JSONValue {
    /// Decodes a result into a `Decodable` type.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = try JSONEncoder().encode(self)
        return try JSONDecoder().decode(T.self, from: data)
    }
}
