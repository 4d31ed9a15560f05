// The consumer app, in Swift, over `WPWithinClient`: finds the car wash, reads its prices, buys 3 washes and
// uses them in two delivery sessions.
//
//   wpw-example-consumer [--socket PATH] [--name DEVICE-NAME | --server-id ID] [--units N] [--timeout-ms MS]
import Foundation
import WPWithinClient
import WPWithinCore

/// Prints a line and flushes it, so each phase shows up at once when the output is a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

/// An amount in minor units beside its currency code, as people read it: `15.00 GBP`.
func money(_ amount: JSONValue?, _ currencyCode: JSONValue?) -> String {
    WPWithinClient.formatMoney(minorUnits: amount?.int64Value ?? 0, currencyCode: currencyCode?.stringValue ?? "")
}

struct Failure: Error, CustomStringConvertible { let description: String }

let units = Int(option("--units") ?? "3") ?? 3
let timeoutMs = Int(option("--timeout-ms") ?? "20000") ?? 20000

do {
    let client = try await WPWithinClient.connected(socketPath: option("--socket"))
    // 1. Discover.
    let device: JSONValue
    if option("--name") != nil || option("--server-id") != nil {
        device = try await client.searchForDevice(serverId: option("--server-id"), name: option("--name"), timeoutMs: timeoutMs)
    } else {
        guard let first = try await client.deviceDiscovery(timeoutMs: timeoutMs).arrayValue?.first else { throw Failure(description: "no producer found") }
        device = first
    }
    guard let serverId = device["serverId"]?.stringValue else { throw Failure(description: "the device has no serverId") }
    say("discovered: \(device["deviceName"]?.stringValue ?? "?") (\(serverId)) at \(device["url"]?.stringValue ?? "?")")
    let producer = WPWithinClient.Producer.serverId(serverId)
    guard let service = try await client.requestServices(producer)["services"]?.arrayValue?.first,
          let serviceId = service["serviceId"]?.int64Value else { throw Failure(description: "the producer offers no service") }
    say("service \(serviceId): \(service["name"]?.stringValue ?? "") - \(service["description"]?.stringValue ?? "")")
    guard let price = try await client.getServicePrices(producer, serviceId: Int(serviceId))["prices"]?.arrayValue?.first,
          let priceId = price["priceId"]?.int64Value else { throw Failure(description: "the service has no price") }
    say("price \(priceId): \(price["description"]?.stringValue ?? ""), \(money(price["amount"], price["currencyCode"])) per \(price["unitDescription"]?.stringValue ?? "unit")")

    // 2. Select.
    let quote = try await client.selectService(producer, serviceId: Int(serviceId), priceId: Int(priceId), numberOfUnits: units)
    guard let reference = quote["paymentReferenceId"]?.stringValue else { throw Failure(description: "no payment reference") }
    say("selected: \(quote["unitsToSupply"]?.int64Value ?? 0) unit(s) for \(money(quote["totalPrice"], quote["currencyCode"])) (reference \(reference))")

    // 3. Pay.
    let purchase = try await client.makePayment(paymentReferenceId: reference)
    guard let purchaseId = purchase["purchaseId"]?.int64Value else { throw Failure(description: "no purchase id") }
    say("paid: purchase \(purchaseId), \(money(purchase["totalPaid"], purchase["currencyCode"])), \(purchase["unitsBought"]?.int64Value ?? 0) unit(s)")

    // 4. Release, in two sessions.
    var remaining = Int(purchase["unitsRemaining"]?.int64Value ?? 0)
    var session = 0
    while remaining > 0 {
        session += 1
        let ask = session == 1 ? max(1, remaining - 1) : remaining
        let begun = try await client.beginServiceDelivery(purchaseId: purchaseId, units: ask)
        let supplied = Int(begun["unitsToSupply"]?.int64Value ?? 0)
        say("delivery \(session) begun: \(supplied) unit(s)")
        let ended = try await client.endServiceDelivery(purchaseId: purchaseId, unitsReceived: supplied)
        remaining = Int(ended["unitsRemaining"]?.int64Value ?? 0)
        say("delivery \(session) ended: \(ended["unitsDelivered"]?.int64Value ?? 0) delivered, \(remaining) remaining")
    }
    await client.close()
    say("done")
} catch {
    FileHandle.standardError.write(Data("consumer: \(error)\n".utf8))
    exit(1)
}
