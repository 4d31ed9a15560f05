import WPWithinCore

/// `subscribe` and `unsubscribe`: the connection receives `event` notifications.
public enum SubscriptionMethods {
    public static let notificationMethod = "event"
    /// Sent once when a subscriber fell too far behind and was dropped; resubscribe with `resumeFrom`.
    public static let lostNotificationMethod = "subscriptionLost"

    public static func methods(bus: EventBus, eventTypes: [String]) -> [RPCMethod] {
        [
            RPCMethod(
                "subscribe",
                summary: "Streams events to this connection as `event` notifications with a strictly increasing seq.",
                params: [
                    RPCParam("types", Schema.array(of: ["type": "string", "enum": .array(eventTypes.map { .string($0) })]),
                             summary: "Only these event types (default: all)."),
                    RPCParam("resumeFrom", Schema.integer(minimum: 0),
                             summary: "The last seq seen: kept events after it are replayed first."),
                ],
                result: "subscription",
                Schema.record([
                    "subscribed": Schema.constant(true), "lastSeq": Schema.count, "replayed": Schema.count,
                    "truncated": Schema.boolean,
                ]),
                handler: { params, context in
                    let types = try params.optionalStringArray("types").map(Set.init)
                    if let types, let unknown = types.first(where: { !eventTypes.contains($0) }) {
                        throw WPWError.invalidParams(field: "types", "unknown event type \(unknown)")
                    }
                    let resumeFrom = try params.optionalInt("resumeFrom")
                    return try await subscribe(context, bus: bus, types: types, resumeFrom: resumeFrom)
                }
            ),
            RPCMethod(
                "unsubscribe",
                summary: "Stops the event stream of this connection.",
                result: "subscription",
                Schema.record(["subscribed": Schema.constant(false)]),
                handler: { _, context in
                    let (previous, forwarder) = context.connection.setSubscription(nil, forwarder: nil)
                    forwarder?.cancel()
                    if let previous { await bus.unsubscribe(previous) }
                    return ["subscribed": false]
                }
            ),
        ]
    }

    static func subscribe(
        _ context: RPCContext,
        bus: EventBus,
        types: Set<String>?,
        resumeFrom: Int64?
    ) async throws -> JSONValue {
        let connection = context.connection
        let subscription = await bus.subscribe(types: types, resumeFrom: resumeFrom)
        let gate = ReplyGate()
        let forwarder = Task {
            await gate.wait()
            var lastDelivered = resumeFrom ?? subscription.lastSeq
            for await event in subscription.events {
                lastDelivered = event.seq
                do {
                    try await connection.send(JSONRPC.notification(method: notificationMethod, params: event.params))
                } catch {
                    break
                }
            }
            if await bus.didOverflow(subscription.id) {
                try? await connection.send(JSONRPC.notification(
                    method: lostNotificationMethod,
                    params: ["reason": "overflow", "lastDeliveredSeq": .int(lastDelivered)]
                ))
            }
        }
        let (previous, previousForwarder) = connection.setSubscription(subscription.id, forwarder: forwarder)
        previousForwarder?.cancel()
        if let previous { await bus.unsubscribe(previous) }
        context.afterReply { gate.open() }
        return [
            "subscribed": true, "lastSeq": .int(subscription.lastSeq), "replayed": .int(Int64(subscription.replayed)),
            "truncated": .bool(subscription.truncated),
        ]
    }
}

/// Holds event delivery back until the `subscribe` reply has been written.
final class ReplyGate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Void>.makeStream()
    }

    func open() {
        continuation.finish()
    }

    func wait() async {
        for await _ in stream {}
    }
}
