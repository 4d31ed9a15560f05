import Logging
import WPWithinCore
import WPWithinStore

/// Every committed transition that moves money or units, logged at info once it is durable: payment
/// outcomes (also those reconciliation finds), refunds, deliveries begun and ended, a consumer's purchase.
/// One line per journal event, with its type and seq and the payload's fields under the shared log keys
/// (in the journal: `PAYMENT_REFERENCE=…`, `PURCHASE_ID=…`). Only the fields listed here are copied, so no
/// secret can reach a log line through an event: event payloads hold no card data or token keys today,
/// and a field added to one later stays out until it is listed.
enum TransitionLog {
    /// The message of each logged event type (constant messages; the data is in the metadata).
    static let messages: [String: Logger.Message] = [
        StoreEventType.paymentStarted: "Payment started",
        StoreEventType.paymentSucceeded: "Payment charged",
        StoreEventType.paymentFailed: "Payment not charged",
        StoreEventType.paymentOutcomeUnknown: "Payment outcome unknown",
        StoreEventType.paymentAbandoned: "Payment abandoned",
        StoreEventType.lateChargeFound: "Late charge found",
        StoreEventType.refundIssued: "Refund issued",
        StoreEventType.deliveryLeaseExpired: "Delivery lease expired",
        StoreEventType.deliveryBegun: "Delivery begun",
        StoreEventType.deliveryEnded: "Delivery ended",
        StoreEventType.purchaseRecorded: "Purchase recorded",
        StoreEventType.consumerDeliveryBegun: "Delivery begun",
        StoreEventType.consumerDeliveryConfirmed: "Delivery confirmed",
        StoreEventType.consumerDeliveryEnded: "Delivery ended",
        StoreEventType.consumerDeliveryUnsettled: "Delivery unsettled",
        StoreEventType.consumerDeliverySynced: "Delivery synced with the producer",
    ]

    /// Payload fields copied into the line, and their log keys.
    static let keys: [String: String] = [
        "paymentReferenceId": LogKey.paymentReference,
        "customerOrderCode": LogKey.customerOrderCode,
        "pspOrderCode": LogKey.orderCode,
        "totalAmount": LogKey.amount,
        "currencyCode": LogKey.currency,
        "refundAmount": LogKey.refundAmount,
        "attempt": LogKey.attempt,
        "reason": LogKey.reason,
        "purchaseId": LogKey.purchaseID,
        "serviceId": LogKey.serviceID,
        "priceId": LogKey.priceID,
        "clientId": LogKey.clientID,
        "serverId": LogKey.serverID,
    ]

    /// Unit counts, copied as `delivery.<name>`.
    static let unitFields: Set<String> = [
        "units", "unitsBought", "unitsPurchased", "unitsRequested", "unitsReserved", "unitsGranted", "unitsReceived",
        "unitsCommitted", "unitsDelivered", "unitsInFlight", "producerUnitsDelivered", "producerUnitsInFlight",
        "unsettled", "settledAs",
    ]

    static func record(_ events: [StoredEvent], logger: Logger) {
        guard logger.logLevel <= .info else { return }
        for event in events {
            guard let message = messages[event.type] else { continue }
            logger.info(message, metadata: metadata(event))
        }
    }

    static func metadata(_ event: StoredEvent) -> Logger.Metadata {
        var metadata: Logger.Metadata = [LogKey.eventType: "\(event.type)", LogKey.eventSeq: "\(event.seq)"]
        for (name, value) in event.payload {
            let key = keys[name] ?? (unitFields.contains(name) ? LogKey.deliveryPrefix + name : nil)
            guard let key, let text = scalar(value) else { continue }
            metadata[key] = "\(text)"
        }
        return metadata
    }

    private static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .bool(let flag): String(flag)
        case .double(let number): String(number)
        case .null, .array, .object: nil
        }
    }
}
