import WPWithinCore
import WPWithinRPC
import WPWithinStore

/// The named schemas of the OpenRPC document (`components/schemas`): every method's result and every event's
/// payload, exactly as the handlers and the store write them (docs/rpc.md). Results refer to them with
/// `$ref` (``Schema/ref(_:)``); `Event.<type>` is the `params` of an `event` notification of that type.
enum RPCSchemas {
    static let roles = Schema.array(of: Schema.oneOf(["producer", "consumer"]))
    static let id = Schema.integer(minimum: 1)

    static let device = Schema.record([
        "serverId": Schema.string, "name": Schema.string, "description": Schema.string, "version": Schema.string, "roles": roles,
    ])

    static let status = Schema.record([
        "version": Schema.string, "uptimeSeconds": ["type": "number", "minimum": 0], "connections": Schema.count,
        "socketPath": Schema.string, "stateDir": Schema.string, "ready": Schema.boolean, "roles": roles, "pid": id,
        "payments": Schema.record([
            "gatewayEndpoint": Schema.string, "card": Schema.nullable(Schema.string), "merchantClientKey": Schema.nullable(Schema.string),
        ]),
        "metricsURL": Schema.nullable(Schema.string),
        "health": Schema.ref("Health"),
        "consumer": Schema.nullable(Schema.record(["budgets": Schema.array(of: Schema.ref("SpendingBudget"))])),
    ])

    /// `SpendingBudget.json`: one budget of the spending policy, with what its window has spent and has left.
    static let spendingBudget = Schema.record([
        "currencyCode": Schema.string, "window": Schema.oneOf(["day", "month"]), "windowSeconds": Schema.integer(minimum: 1),
        "limit": Schema.count, "spent": Schema.count, "purchased": Schema.count, "pending": Schema.count, "remaining": Schema.count,
    ])

    /// `getSpendingPolicy`: the rules in force (`SpendingPolicy.json`: per-currency amounts as lists of
    /// `SpendingAmount`) and each budget's figures.
    static let spendingAmount = Schema.record(["currencyCode": Schema.string, "amount": Schema.count])
    static let spendingRules: JSONValue = {
        let amounts = Schema.array(of: Schema.ref("SpendingAmount"))
        let list = Schema.nullable(Schema.array(of: Schema.string))
        return Schema.record([
            "maxTotal": amounts, "maxUnitPrice": amounts, "maxUnits": Schema.nullable(Schema.integer(minimum: 1)),
            "dailyBudget": amounts, "monthlyBudget": amounts, "allowProducers": list,
            "denyProducers": Schema.array(of: Schema.string), "allowServiceTypes": list,
            "denyServiceTypes": Schema.array(of: Schema.string), "allowCurrencies": list,
        ])
    }()
    static let spendingPolicy = Schema.record([
        "policy": Schema.ref("SpendingRules"), "budgets": Schema.array(of: Schema.ref("SpendingBudget")),
    ])

    static let health = Schema.record([
        "ok": Schema.boolean,
        "store": Schema.record([
            "writable": Schema.boolean, "freeBytes": Schema.nullable(Schema.count), "lastCommitFailed": Schema.boolean,
        ]),
        "producerStore": Schema.nullable(Schema.record([
            "backend": Schema.oneOf(["sqlite", "postgresql"]), "writable": Schema.boolean, "reason": Schema.nullable(Schema.string),
        ])),
        "gateway": Schema.record([
            "reachable": Schema.nullable(Schema.boolean), "secondsSinceLastCall": Schema.nullable(["type": "number", "minimum": 0]),
        ]),
        "discovery": Schema.record([
            "broadcaster": Schema.nullable(Schema.boolean), "scanner": Schema.nullable(Schema.boolean),
        ]),
    ])

    static let metrics = Schema.record(["contentType": Schema.string, "text": Schema.string])

    static let discoveredDevice = Schema.record([
        "serverId": Schema.string, "deviceName": Schema.string, "deviceDescription": Schema.string,
        "hostname": Schema.string, "portNumber": Schema.integer(minimum: 0, maximum: 65535), "urlPrefix": Schema.string,
        "scheme": Schema.string, "url": Schema.string, "sourceAddress": Schema.string, "serviceTypes": Schema.array(of: Schema.string),
    ])

    /// A service of the catalog (`CatalogJSON.json`): `stock` is what is left, null for unlimited.
    static let service = Schema.record([
        "id": Schema.integer, "name": Schema.string, "description": Schema.string, "serviceType": Schema.string,
        "prices": Schema.array(of: Schema.ref("ServicePrice")),
    ])

    static let servicePrice = Schema.record([
        "id": Schema.integer, "description": Schema.string, "amount": Schema.integer(minimum: 1),
        "currencyCode": Schema.string, "unitId": Schema.integer, "unitDescription": Schema.string,
        "stock": Schema.nullable(Schema.count), "refundOnExpiry": Schema.boolean,
    ])

    static let serviceList = Schema.record([
        "serverId": Schema.string, "fleetId": Schema.nullable(Schema.string),
        "services": Schema.array(of: Schema.record([
            "serviceId": Schema.integer, "name": Schema.string, "description": Schema.string, "serviceType": Schema.string,
        ])),
    ])

    static let priceList = Schema.record([
        "serverId": Schema.string,
        "prices": Schema.array(of: Schema.record([
            "priceId": Schema.integer, "description": Schema.string, "amount": Schema.integer, "currencyCode": Schema.string,
            "unitId": Schema.integer, "unitDescription": Schema.string,
        ])),
    ])

    static let quote = Schema.record([
        "paymentReferenceId": Schema.string, "serverId": Schema.string, "serviceId": Schema.integer, "priceId": Schema.integer,
        "unitsToSupply": Schema.count, "totalPrice": Schema.integer(minimum: 1), "currencyCode": Schema.string,
        "merchantClientKey": Schema.string,
    ])

    /// `ConsumerEngine.purchaseJSON`.
    static let purchaseFields: [String: JSONValue] = [
        "purchaseId": id, "serverId": Schema.string, "serviceId": Schema.integer, "priceId": Schema.integer,
        "paymentReferenceId": Schema.string, "totalPaid": Schema.integer(minimum: 1), "currencyCode": Schema.string,
        "unitsBought": Schema.count, "unitsDelivered": Schema.count, "unitsInFlight": Schema.count, "unitsRemaining": Schema.count,
        "expiry": Schema.string, "producerUrl": Schema.string, "unsettled": Schema.nullable(Schema.oneOf(["begin", "end"])),
        "unitsRefunded": Schema.count, "amountRefunded": Schema.count,
        "refundStatus": Schema.nullable(Schema.oneOf(["pending", "issued", "none"])),
    ]

    static let deliveryBegun = Schema.record(purchaseFields.merging(["unitsToSupply": Schema.count]) { $1 })
    static let deliveryEnded = Schema.record(
        purchaseFields.merging([
            "unitsJustSupplied": Schema.count, "producerUnitsRemaining": Schema.count, "settledFromProducer": Schema.constant(true),
        ]) { $1 },
        optional: ["settledFromProducer"])

    static let results: [String: JSONValue] = [
        "Device": device, "Status": status, "Health": health, "Metrics": metrics, "DiscoveredDevice": discoveredDevice,
        "Service": service, "ServicePrice": servicePrice, "ServiceList": serviceList, "PriceList": priceList, "Quote": quote,
        "Purchase": Schema.record(purchaseFields), "DeliveryBegun": deliveryBegun, "DeliveryEnded": deliveryEnded,
        "SpendingPolicy": spendingPolicy, "SpendingRules": spendingRules, "SpendingAmount": spendingAmount,
        "SpendingBudget": spendingBudget,
    ]

    // MARK: Events

    /// Every notification's own members; `member` and `fleetSeq` are on events another fleet member committed.
    static let eventFields: [String: JSONValue] = [
        "seq": id, "time": Schema.string, "member": Schema.string, "fleetSeq": id,
    ]
    static let eventOptional: Set<String> = ["member", "fleetSeq"]

    /// `ProducerEvents.order`.
    static let order: [String: JSONValue] = [
        "paymentReferenceId": Schema.string, "clientId": Schema.string, "serviceId": Schema.integer, "priceId": Schema.integer,
        "units": Schema.count, "totalAmount": Schema.integer(minimum: 1), "currencyCode": Schema.string,
    ]
    /// `ProducerEvents.ledger` (present when the order has a unit ledger).
    static let producerLedger: [String: JSONValue] = [
        "unitsPurchased": Schema.count, "unitsDelivered": Schema.count, "unitsInFlight": Schema.count,
    ]
    /// `ConsumerStore.purchasePayload`.
    static let purchasePayload: [String: JSONValue] = [
        "purchaseId": id, "paymentReferenceId": Schema.string, "serverId": Schema.string, "serviceId": Schema.integer,
        "priceId": Schema.integer, "unitsBought": Schema.count, "unitsDelivered": Schema.count, "unitsInFlight": Schema.count,
    ]
    /// `ErrorEvent.payload`, with the details each operation adds.
    static let errorPayload: [String: JSONValue] = [
        "operation": Schema.string, "code": Schema.integer, "message": Schema.string,
        "paymentReferenceId": Schema.string, "purchaseId": id,
    ]

    /// `ConsumerEngine.refusalPayload`: the refused quote, the error, the rule, and the rule's figures when it
    /// is a limit (`spendingFigures`, absent for a list).
    static let spendingFigures: [String: JSONValue] = [
        "limitAmount": Schema.count, "requested": Schema.count, "exceededBy": Schema.integer(minimum: 1), "spent": Schema.count,
        "pending": Schema.count, "remaining": Schema.count, "windowSeconds": Schema.integer(minimum: 1),
    ]
    static let spendingRefused: [String: JSONValue] = spendingFigures.merging([
        "paymentReferenceId": Schema.string, "serverId": Schema.string, "serviceId": Schema.integer, "priceId": Schema.integer,
        "units": Schema.count, "totalAmount": Schema.integer(minimum: 1), "currencyCode": Schema.string,
        "serviceType": Schema.nullable(Schema.string), "code": Schema.integer(minimum: -32059, maximum: -32050),
        "message": Schema.string, "rule": Schema.oneOf(SpendingRefusal.Rule.allCases.map(\.rawValue)),
    ]) { $1 }

    /// Each event type's members besides `seq`, `type` and `time`, and which of them may be absent.
    static let eventPayloads: [String: (fields: [String: JSONValue], optional: Set<String>)] = {
        func with(_ base: [String: JSONValue], _ extra: [String: JSONValue]...) -> [String: JSONValue] {
            extra.reduce(base) { $0.merging($1) { $1 } }
        }
        let transition = with(order, ["customerOrderCode": Schema.string])
        let catalog: [String: JSONValue] = ["serviceId": Schema.integer]
        return [
            "daemon.started": (["version": Schema.string, "serverId": Schema.string], []),
            "daemon.reloaded": (["restartRequiredFor": Schema.array(of: Schema.string)], []),
            "daemon.stopping": ([:], []),
            "daemon.error": (["source": Schema.oneOf(["reload"]), "message": Schema.string], []),
            "producer.error": (errorPayload, ["paymentReferenceId", "purchaseId"]),
            "consumer.error": (errorPayload, ["paymentReferenceId", "purchaseId"]),
            "consumer.deviceDiscovered": (discoveredDevice["properties"]?.objectValue ?? [:], []),
            StoreEventType.serviceAdded: (catalog, []),
            StoreEventType.serviceReplaced: (catalog, []),
            StoreEventType.serviceRemoved: (catalog, []),
            StoreEventType.quoteCreated: (order, []),
            StoreEventType.paymentStarted: (with(order, ["attempt": id]), []),
            StoreEventType.paymentSucceeded: (with(order, ["pspOrderCode": Schema.string]), []),
            StoreEventType.paymentFailed: (with(transition, ["reason": Schema.string]), []),
            StoreEventType.paymentOutcomeUnknown: (with(transition, ["reason": Schema.string]), []),
            StoreEventType.paymentAbandoned: (with(transition, ["reason": Schema.string]), []),
            StoreEventType.lateChargeFound: (with(transition, ["pspOrderCode": Schema.string]), []),
            StoreEventType.refundIssued: (
                with(transition, ["pspOrderCode": Schema.string, "refundAmount": Schema.integer(minimum: 1),
                                  "reason": Schema.oneOf(["lateCharge", "expiry", "requested"]), "unitsRefunded": Schema.integer(minimum: 1)],
                     producerLedger),
                Set(producerLedger.keys).union(["unitsRefunded"])),
            StoreEventType.deliveryBegun: (
                with(order, ["unitsRequested": Schema.count, "unitsGranted": Schema.count], producerLedger), Set(producerLedger.keys)),
            StoreEventType.deliveryEnded: (
                with(order, ["unitsReceived": Schema.count, "unitsCommitted": Schema.count], producerLedger), Set(producerLedger.keys)),
            StoreEventType.deliveryLeaseExpired: (
                with(order, ["units": Schema.count, "settledAs": Schema.oneOf(["released", "delivered"])], producerLedger),
                Set(producerLedger.keys)),
            StoreEventType.quoteReceived: (
                ["paymentReferenceId": Schema.string, "serverId": Schema.string, "serviceId": Schema.integer,
                 "priceId": Schema.integer, "units": Schema.count, "totalAmount": Schema.integer(minimum: 1),
                 "currencyCode": Schema.string], []),
            StoreEventType.purchaseRecorded: (
                with(purchasePayload, ["totalAmount": Schema.integer(minimum: 1), "currencyCode": Schema.string]), []),
            StoreEventType.consumerDeliveryBegun: (with(purchasePayload, ["unitsRequested": Schema.count, "unitsReserved": Schema.count]), []),
            StoreEventType.consumerDeliveryConfirmed: (with(purchasePayload, ["unitsReserved": Schema.count, "unitsGranted": Schema.count]), []),
            StoreEventType.consumerDeliveryEnded: (with(purchasePayload, ["unitsReceived": Schema.count, "unitsCommitted": Schema.count]), []),
            StoreEventType.consumerDeliveryUnsettled: (
                with(purchasePayload, ["unsettled": Schema.oneOf(["begin", "end"]), "units": Schema.count]), []),
            StoreEventType.consumerRefundReceived: (
                with(purchasePayload, ["reason": Schema.nullable(Schema.oneOf(["expiry", "requested"])),
                                       "unitsRefunded": Schema.integer(minimum: 1), "amountRefunded": Schema.integer(minimum: 1),
                                       "currencyCode": Schema.string]), []),
            StoreEventType.consumerDeliverySynced: (
                with(purchasePayload, ["producerUnitsDelivered": Schema.count, "producerUnitsInFlight": Schema.count]), []),
            ConsumerEngine.spendingRefused: (spendingRefused, Set(spendingFigures.keys)),
        ]
    }()

    static func eventSchemaName(_ type: String) -> String { "Event.\(type)" }

    /// `Event.<type>` for every event type, `Event` (any of them) and `SubscriptionLost`.
    static func events(_ types: [String]) -> [String: JSONValue] {
        var schemas: [String: JSONValue] = [:]
        for type in types {
            let payload = eventPayloads[type] ?? ([:], [])
            var fields = payload.fields.merging(eventFields) { $1 }
            fields["type"] = Schema.constant(type)
            schemas[eventSchemaName(type)] = Schema.record(fields, optional: payload.optional.union(eventOptional))
        }
        schemas["Event"] = ["oneOf": .array(types.map { Schema.ref(eventSchemaName($0)) })]
        schemas["SubscriptionLost"] = Schema.record(["reason": Schema.oneOf(["overflow"]), "lastDeliveredSeq": Schema.count])
        return schemas
    }

    /// The document's `x-notifications`: what a subscribed connection receives besides replies.
    static let notifications: JSONValue = [
        ["method": .string(SubscriptionMethods.notificationMethod), "params": Schema.ref("Event"),
         "summary": "One event (subscribe); its `type` names the `Event.<type>` schema of its params."],
        ["method": .string(SubscriptionMethods.lostNotificationMethod), "params": Schema.ref("SubscriptionLost"),
         "summary": "The subscriber fell too far behind and was dropped; resubscribe with resumeFrom = lastDeliveredSeq."],
    ]

    /// Every named schema of the document.
    static func components(eventTypes: [String]) -> [String: JSONValue] {
        results.merging(events(eventTypes)) { $1 }
    }
}
