#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WPWithinCore

extension WPWithinClient {
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

    /// One `event` notification from the daemon: the members every event has, and its typed `payload`.
    ///
    /// ```swift
    /// for try await event in try await client.events(types: ["producer.paymentSucceeded"]) {
    ///     if case .producerPaymentSucceeded(let paid) = event.payload { print(paid.totalAmount, paid.currencyCode) }
    /// }
    /// ```
    public struct Event: Sendable, Hashable {
        /// Strictly increasing per daemon.
        public var seq: Int64
        public var type: String
        /// RFC 3339 timestamp as sent by the daemon.
        public var time: String
        /// A fleet member's events: the fleet-wide sequence number (docs/fleet.md); nil otherwise.
        public var fleetSeq: Int64?
        /// A fleet member's events: which member sent it; nil otherwise.
        public var member: String?
        /// The typed payload (`Event.<type>` in rpc.discover): `.other` for a type this client does not know,
        /// `.malformed` when a known type's params do not decode. Never a crash.
        public var payload: Payload
        /// The whole `params` object of the notification (including `seq`, `type` and `time`).
        public var params: JSONValue

        public init(seq: Int64, type: String, time: String, params: JSONValue) {
            self.seq = seq
            self.type = type
            self.time = time
            self.params = params
            fleetSeq = params["fleetSeq"]?.int64Value
            member = params["member"]?.stringValue
            payload = Payload(type: type, params: params)
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

