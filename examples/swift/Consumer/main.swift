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
func money(_ amount: Int64, _ currencyCode: String) -> String {
    WPWithinClient.formatMoney(minorUnits: amount, currencyCode: currencyCode)
}

struct Failure: Error, CustomStringConvertible { let description: String }

let units = Int(option("--units") ?? "3") ?? 3
let timeoutMs = Int(option("--timeout-ms") ?? "20000") ?? 20000

do {
    let client = try await WPWithinClient.connected(socketPath: option("--socket"))
    // 1. Discover. Every result is a typed struct (WPWithinClient.DiscoveredDevice, .Quote, .Purchase, …).
    let device: WPWithinClient.DiscoveredDevice
    if option("--name") != nil || option("--server-id") != nil {
        device = try await client.searchForDevice(serverId: option("--server-id"), name: option("--name"), timeoutMs: timeoutMs)
    } else {
        guard let first = try await client.deviceDiscovery(timeoutMs: timeoutMs).first else { throw Failure(description: "no producer found") }
        device = first
    }
    say("discovered: \(device.deviceName) (\(device.serverId)) at \(device.url)")
    let producer = WPWithinClient.Producer.serverId(device.serverId)
    guard let service = try await client.requestServices(producer).services.first else {
        throw Failure(description: "the producer offers no service")
    }
    say("service \(service.serviceId): \(service.name) - \(service.description)")
    guard let price = try await client.getServicePrices(producer, serviceId: service.serviceId).prices.first else {
        throw Failure(description: "the service has no price")
    }
    say("price \(price.priceId): \(price.description), \(money(price.amount, price.currencyCode)) per \(price.unitDescription)")

    // 2. Select.
    let quote = try await client.selectService(producer, serviceId: service.serviceId, priceId: price.priceId, numberOfUnits: units)
    say("selected: \(quote.unitsToSupply) unit(s) for \(money(quote.totalPrice, quote.currencyCode)) (reference \(quote.paymentReferenceId))")

    // 3. Pay.
    let purchase = try await client.makePayment(paymentReferenceId: quote.paymentReferenceId)
    say("paid: purchase \(purchase.purchaseId), \(money(purchase.totalPaid, purchase.currencyCode)), \(purchase.unitsBought) unit(s)")

    // 4. Release, in two sessions.
    var remaining = purchase.unitsRemaining
    var session = 0
    while remaining > 0 {
        session += 1
        let ask = session == 1 ? max(1, remaining - 1) : remaining
        let begun = try await client.beginServiceDelivery(purchaseId: purchase.purchaseId, units: ask)
        say("delivery \(session) begun: \(begun.unitsToSupply) unit(s)")
        let ended = try await client.endServiceDelivery(purchaseId: purchase.purchaseId, unitsReceived: begun.unitsToSupply)
        remaining = ended.unitsRemaining
        say("delivery \(session) ended: \(ended.unitsDelivered) delivered, \(remaining) remaining")
    }
    await client.close()
    say("done")
} catch {
    FileHandle.standardError.write(Data("consumer: \(error)\n".utf8))
    exit(1)
}
