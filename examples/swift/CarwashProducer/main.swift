// The car-wash producer app, in Swift, over `WPWithinClient`: registers its service with the daemon, starts
// the discovery broadcast and "washes" the units of every delivery the daemon announces.
//
//   wpw-example-carwash [--socket PATH] [--deliveries N] [--service-id ID]
//
// Exits 0 after N finished deliveries (0: runs until killed).
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

let deliveries = Int(option("--deliveries") ?? "0") ?? 0
let serviceId = Int(option("--service-id") ?? "1") ?? 1

do {
    let client = try await WPWithinClient.connected(socketPath: option("--socket"))
    let device = try await client.getDevice()
    say("producer: \(device.name) (\(device.serverId))")
    let service: JSONValue = [
        "id": .int(Int64(serviceId)), "name": "RoboWash", "description": "Car washed by robot", "serviceType": "car-wash",
        "prices": [["id": 1, "description": "One wash", "amount": 500, "currencyCode": "GBP", "unitId": 1, "unitDescription": "Single wash"]],
    ]
    do {
        _ = try await client.addService(service)
        say("service \(serviceId) registered: RoboWash, \(WPWithinClient.formatMoney(minorUnits: 500, currencyCode: "GBP")) a wash")
    } catch let error as WPWError where error.code == .alreadyExists {
        say("service \(serviceId) already registered")
    }
    let events = try await client.events(types: ["producer.deliveryBegun", "producer.deliveryEnded"])
    _ = try await client.startServiceBroadcast()
    say("ready: broadcasting, waiting for customers")
    var ended = 0
    for try await event in events {
        // Each event's payload is typed (WPWithinClient.Events.*); `.other` would be a type this client does not know.
        switch event.payload {
        case .producerDeliveryBegun(let begun):
            say("delivery begun: washing \(begun.unitsGranted) car(s) for payment \(begun.paymentReferenceId)")
        case .producerDeliveryEnded(let done):
            ended += 1
            say("delivery ended: \(done.unitsCommitted) wash(es) done for payment \(done.paymentReferenceId)")
        default:
            continue
        }
        if deliveries > 0 && ended >= deliveries { break }
    }
    _ = try? await client.stopServiceBroadcast()
    await client.close()
    say("stopped after \(ended) deliveries")
} catch {
    FileHandle.standardError.write(Data("carwash: \(error)\n".utf8))
    exit(1)
}
