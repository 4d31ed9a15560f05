import Testing
import WPWithinCore
import WPWithinCrypto

private func code(_ body: () throws -> Any) -> WPWError.Code? {
    do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
}

@Suite struct DomainTokenTests {
    @Test func tokenIsRandomSignedAndIndependentOfTheReference() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(signer: signer)
        let token = try #require(order.token)
        #expect(token.key.count == 64 && token.key == token.key.lowercased())
        #expect(token.key != order.paymentReferenceID)
        #expect(token.issued == Fixture.t0 && token.refundOnExpiry == false)
        let claims = TokenClaims(key: token.key, quote: order.quote, issued: token.issued, expiry: token.expiry, refundOnExpiry: false)
        #expect(token.signature == HMACSHA256.authenticate(key: [UInt8](repeating: 0x42, count: 32), data: claims.signingInput))
        // Another order gets another key.
        #expect(try Fixture.paidOrder(seed: 2, signer: signer).token?.key != token.key)
    }

    @Test func signingInputIsCanonicalAndLengthPrefixed() throws {
        let claims = TokenClaims(
            key: "k", serverID: "s", clientID: "c", paymentReferenceID: "r", serviceID: 1, priceID: -2, units: 3,
            issued: Instant(secondsSinceEpoch: 4, nanoseconds: 5), expiry: Instant(secondsSinceEpoch: -1, nanoseconds: 6),
            refundOnExpiry: true)
        var expected: [UInt8] = [0, 0, 0, 26] + Array("wpwithin/delivery-token/v1".utf8)
        for s in ["k", "s", "c", "r"] { expected += [0, 0, 0, 1] + Array(s.utf8) }
        expected += [0, 0, 0, 0, 0, 0, 0, 1]
        expected += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
        expected += [0, 0, 0, 0, 0, 0, 0, 3]
        expected += [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 5]
        expected += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 6]
        expected += [1]
        #expect(claims.signingInput == expected)
        // Moving bytes between adjacent strings changes the input (no concatenation ambiguity).
        func input(server: String, client: String) -> [UInt8] {
            TokenClaims(key: "k", serverID: server, clientID: client, paymentReferenceID: "r", serviceID: 1, priceID: 1, units: 1,
                        issued: .goZero, expiry: .goZero, refundOnExpiry: false).signingInput
        }
        #expect(input(server: "ab", client: "c") != input(server: "a", client: "bc"))
    }

    @Test func validTokenBeginsAndEnds() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(signer: signer)
        let presented = PresentedToken(try #require(order.token))
        try order.verify(presented, clientID: Fixture.clientID, serviceID: 1, now: Fixture.t0.plus(60), signer: signer)
        let (begun, granted) = try order.beginDelivery(presented, clientID: Fixture.clientID, serviceID: 1, requestedUnits: 25, now: Fixture.t0, signer: signer)
        #expect(granted == 10)
        let (ended, committed) = try begun.endDelivery(presented, clientID: Fixture.clientID, serviceID: 1, receivedUnits: 10, now: Fixture.t0, signer: signer)
        #expect(committed == 10 && ended.ledger?.undelivered == 0)
        // Replays: a second end is refused, a second begin finds nothing left.
        #expect(code { try ended.endDelivery(presented, clientID: Fixture.clientID, serviceID: 1, receivedUnits: 10, now: Fixture.t0, signer: signer) } == .conflict)
        #expect(code { try ended.beginDelivery(presented, clientID: Fixture.clientID, serviceID: 1, requestedUnits: 1, now: Fixture.t0, signer: signer) } == .insufficientUnits)
        #expect(code { try order.beginDelivery(presented, clientID: nil, serviceID: 1, requestedUnits: 0, now: Fixture.t0, signer: signer) } == .invalidParams)
    }

    @Test func forgedOrForeignTokensAreRejected() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(signer: signer)
        let token = try #require(order.token)
        func verify(_ p: PresentedToken, client: String? = Fixture.clientID, service: Int = 1, now: Instant = Fixture.t0) throws {
            try order.verify(p, clientID: client, serviceID: service, now: now, signer: signer)
        }
        var forged = token.signature
        forged[0] ^= 0x01
        #expect(throws: DeliveryToken.invalidSignature) { try verify(PresentedToken(key: token.key, signature: forged)) }
        #expect(throws: DeliveryToken.invalidSignature) { try verify(PresentedToken(key: token.key, signature: nil)) }  // Go-style null
        #expect(throws: DeliveryToken.invalidSignature) { try verify(PresentedToken(key: token.key, signature: Array(token.signature.prefix(16)))) }
        #expect(throws: DeliveryToken.invalidKey) { try verify(PresentedToken(key: order.paymentReferenceID, signature: token.signature)) }
        #expect(throws: DeliveryToken.invalidKey) { try verify(PresentedToken(key: token.key.uppercased(), signature: token.signature)) }

        // Signed by another producer's key.
        let otherSigner = try hmacSigner(0x43)
        let foreign = try Fixture.paidOrder(signer: otherSigner)
        #expect(throws: DeliveryToken.invalidSignature) { try verify(PresentedToken(try #require(foreign.token))) }
        // A genuine token of another order (different key) presented for this order.
        let sibling = try Fixture.paidOrder(seed: 5, signer: signer)
        #expect(throws: DeliveryToken.invalidKey) { try verify(PresentedToken(try #require(sibling.token))) }
        // Same key but the other order's signature.
        #expect(throws: DeliveryToken.invalidSignature) { try verify(PresentedToken(key: token.key, signature: try #require(sibling.token).signature)) }

        #expect(throws: DeliveryToken.clientMismatch) { try verify(PresentedToken(token), client: "someone-else") }
        #expect(throws: DeliveryToken.wrongService) { try verify(PresentedToken(token), service: 2) }
        // An unpaid order has no token to match.
        let unpaid = Order(quote: try Fixture.quote())
        #expect(throws: DeliveryToken.invalidKey) { try unpaid.verify(PresentedToken(token), clientID: nil, serviceID: 1, now: Fixture.t0, signer: signer) }
    }

    @Test func expiryComesFromTheProducersRecordOnly() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(signer: signer)
        let token = try #require(order.token)
        let afterExpiry = token.expiry
        // The client extends its copy of the expiry: still expired.
        let extended = PresentedToken(key: token.key, signature: token.signature, issued: token.issued, expiry: token.expiry.plus(86_400 * 365))
        #expect(throws: DeliveryToken.hasExpired) { try order.verify(extended, clientID: nil, serviceID: 1, now: afterExpiry, signer: signer) }
        #expect(code { try order.beginDelivery(extended, clientID: nil, serviceID: 1, requestedUnits: 1, now: afterExpiry, signer: signer) } == .expired)
        // A client copy whose times were mangled (Go Thrift wrappers drop fractions, shift offsets) is still valid.
        let mangled = PresentedToken(key: token.key, signature: token.signature, issued: .goZero, expiry: .goZero)
        try order.verify(mangled, clientID: nil, serviceID: 1, now: Fixture.t0, signer: signer)
        // One nanosecond before the stored expiry is fine.
        let justBefore = Instant(secondsSinceEpoch: token.expiry.secondsSinceEpoch, nanoseconds: token.expiry.nanoseconds - 1)
        try order.verify(PresentedToken(token), clientID: nil, serviceID: 1, now: justBefore, signer: signer)
        // A delivery begun before the expiry can still be ended after it.
        let (begun, _) = try order.beginDelivery(PresentedToken(token), clientID: nil, serviceID: 1, requestedUnits: 2, now: justBefore, signer: signer)
        let (ended, committed) = try begun.endDelivery(PresentedToken(token), clientID: nil, serviceID: 1, receivedUnits: 2, now: afterExpiry, signer: signer)
        #expect(committed == 2 && ended.ledger?.delivered == 2)
    }

    @Test func unitsComeFromTheProducersRecordOnly() throws {
        let signer = try hmacSigner()
        let order = try Fixture.paidOrder(units: 3, signer: signer)
        let presented = PresentedToken(try #require(order.token))
        var current = order
        var total = 0
        // Begin/end cycles with inflated requests never deliver more than the 3 units bought.
        for _ in 0..<5 {
            guard let (begun, granted) = try? current.beginDelivery(presented, clientID: nil, serviceID: 1, requestedUnits: 1_000, now: Fixture.t0, signer: signer) else { break }
            #expect(code { try begun.endDelivery(presented, clientID: nil, serviceID: 1, receivedUnits: 1_000, now: Fixture.t0, signer: signer) } == .invalidParams)
            let (ended, committed) = try begun.endDelivery(presented, clientID: nil, serviceID: 1, receivedUnits: granted, now: Fixture.t0, signer: signer)
            #expect(committed == granted)
            total += committed
            current = ended
        }
        #expect(total == 3)
        #expect(current.ledger?.remaining == 0)
    }

    @Test func issuingValidates() throws {
        let signer = try hmacSigner()
        let quote = try Fixture.quote()
        #expect(code { try DeliveryToken.issue(for: quote, now: Fixture.t0, ttl: .zero, random: SeededBytes(seed: 1), signer: signer) } == .invalidParams)
        #expect(code { try DeliveryToken.issue(for: quote, now: Fixture.t0, ttl: .seconds(1), random: BrokenRandom(), signer: signer) } == .internalError)
    }
}
