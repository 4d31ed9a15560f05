import Foundation
import WPWithinCore
import WPWithinCrypto

/// Deterministic bytes (SplitMix64) so keys and UUIDs are reproducible in tests.
final class SeededBytes: RandomByteSource, @unchecked Sendable {
    private let lock = NSLock()
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func bytes(count: Int) throws -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// A random source that always fails.
struct BrokenRandom: RandomByteSource {
    func bytes(count: Int) throws -> [UInt8] { throw WPWError(.internalError, "no entropy") }
}

/// The production wiring: WPWithinCrypto's HMAC signer behind the core's protocol.
func hmacSigner(_ fill: UInt8 = 0x42) throws -> ClosureTokenSigner {
    let signer = try HMACTokenSigner(key: [UInt8](repeating: fill, count: 32))
    return ClosureTokenSigner(sign: { signer.sign($0) }, verify: { signer.verify($0, for: $1) })
}

enum Fixture {
    static let gbp = Currency(code: "GBP")!
    static let serverID = "cfdc20bd-0076-4027-4577-f1dfa9dc6cae"
    static let clientID = "bfef4e66-71ff-4a75-5a5c-5004a37463fe"
    static let t0 = Instant(secondsSinceEpoch: 1_795_576_160, nanoseconds: 386_060_323)

    static func catalog(stock: Int? = nil) throws -> Catalog {
        try Catalog(services: [
            Service(id: 1, name: "RoboWash", description: "Car washed by robot", serviceType: "wash", prices: [
                Price(id: 1, description: "Car wash", amount: 500, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash", stock: stock),
                Price(id: 2, description: "SUV Wash", amount: 650, currencyCode: "GBP", unitID: 1, unitDescription: "Single wash"),
            ]),
            Service(id: 2, name: "Big LED", description: "Turn on the green LED", serviceType: "pi-led", prices: [
                Price(id: 1, description: "per second", amount: 10, currencyCode: "GBP", unitID: 1, unitDescription: "One second"),
            ]),
        ])
    }

    static func quote(units: Int = 10, catalog: Catalog? = nil, seed: UInt64 = 1, now: Instant = t0) throws -> Quote {
        try Quote.make(
            catalog: catalog ?? Fixture.catalog(), serviceID: 1, priceID: 1, units: units, clientID: clientID,
            serverID: serverID, now: now, random: SeededBytes(seed: seed))
    }

    /// A paid order for `units` with a 7-day token.
    static func paidOrder(units: Int = 10, seed: UInt64 = 1, signer: some TokenSigner) throws -> Order {
        let order = Order(quote: try quote(units: units, seed: seed))
        guard case .charge(let pending, _) = try order.startPayment(clientID: clientID, now: t0, catalog: catalog()) else {
            fatalError("expected a charge")
        }
        return try pending.paymentSucceeded(
            pspReference: "psp-1", now: t0, tokenTTL: .seconds(7 * 86_400), random: SeededBytes(seed: seed &+ 100), signer: signer)
    }
}

extension Instant {
    func plus(_ seconds: Int64) -> Instant { adding(.seconds(seconds))! }
}
