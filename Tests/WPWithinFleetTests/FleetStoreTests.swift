import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinFleet
import WPWithinStore
import WPWithinTestSupport

/// Fleet members (``FleetStore``s, each with its own local store, as in three daemons) on one real
/// PostgreSQL server: the fleet's rules held by the database under concurrency, across members.
@Suite struct FleetStoreTests {
    /// A fleet of `members` on a server of its own, with a service of `stock` units at 500 GBP-pence.
    final class Fleet: @unchecked Sendable {
        let server: PostgresServer
        let directory: TemporaryDirectory
        var members: [FleetStore] = []
        var locals: [Store] = []

        init(members count: Int, stock: Int?) async throws {
            server = try await onOwnThread { try PostgresServer() }
            directory = try TemporaryDirectory(prefix: "wpw-fleet")
            for index in 0..<count { try await addMember(index) }
            if let stock {
                let service = try Service(
                    id: 1, name: "RoboWash", description: "Car washed by robot", serviceType: "car-wash",
                    prices: [try Price(
                        id: 1, description: "Car wash", pricePerUnit: Money(minorUnits: 500, currency: Currency(code: "GBP")!),
                        unitID: 1, unitDescription: "Single wash", stock: stock)])
                _ = try await members[0].addService(service, now: Fleet.now)
            }
        }

        @discardableResult
        func addMember(_ index: Int) async throws -> FleetStore {
            let logger = Logger(label: "fleet-test", factory: { _ in SwiftLogNoOpLogHandler() })
            let local = try Store.open(directory: directory.path("member-\(index)-\(locals.count)"), logger: logger)
            let member = try await onOwnThread { [server] in
                try FleetStore.open(
                    settings: FleetStore.Settings(connection: server.connectionString, poolSize: 2), local: local,
                    serverID: "member-\(index)", logger: logger)
            }
            locals.append(local)
            if index < members.count { members[index] = member } else { members.append(member) }
            return member
        }

        static let now = Instant(secondsSinceEpoch: 1_800_000_000, nanoseconds: 0)

        func destroy() async {
            for member in members { await member.close() }
            for local in locals { try? local.close() }
            await server.shutDown()
            try? FileManager.default.removeItem(at: directory.url)
        }

        func stock() async throws -> Int? {
            try await members[0].catalog().price(serviceID: 1, priceID: 1).stock
        }

        /// Quotes at one member and pays at another; returns the paid order.
        func buy(units: Int, client: String, quoteAt: Int, payAt: Int) async throws -> Order {
            let quote = try await members[quoteAt].createQuote(serviceID: 1, priceID: 1, units: units, clientID: client, now: Fleet.now).value
            guard case .charge(let pending) = try await members[payAt].startPayment(
                paymentReferenceID: quote.paymentReferenceID, clientID: client, now: Fleet.now).value
            else { throw TestSupportError("expected a charge") }
            return try await members[payAt].recordPaymentSucceeded(
                paymentReferenceID: pending.paymentReferenceID, pspOrderCode: "psp-\(quote.paymentReferenceID)",
                tokenTTL: .seconds(3600), refundOnExpiry: false, now: Fleet.now).value
        }
    }

    static func withFleet(members: Int = 3, stock: Int? = 20, _ body: (Fleet) async throws -> Void) async throws {
        let fleet = try await Fleet(members: members, stock: stock)
        do {
            try await body(fleet)
        } catch {
            await fleet.destroy()
            throw error
        }
        await fleet.destroy()
    }

    @Test func membersShareOneFleetIdentityCatalogAndSchema() async throws {
        try await Self.withFleet { fleet in
            #expect(Set(fleet.members.map(\.fleetID)).count == 1 && fleet.members[0].fleetID != nil)
            for member in fleet.members {
                #expect(try await member.catalog().price(serviceID: 1, priceID: 1).stock == 20)
            }
            // The schema was applied once, by whichever member came first.
            #expect(try await fleet.server.query("SELECT count(*) FROM schema_migration") == "2")  // f1-fleet, f2-refunds
            #expect(try await fleet.server.query("SELECT count(*) FROM fleet_member") == "3")
            // A service id taken at one member is taken at every member.
            let again = try Service(id: 1, name: "Other", description: "x", prices: [])
            await #expect(throws: WPWError.self) { _ = try await fleet.members[2].addService(again, now: Fleet.now) }
        }
    }

    @Test func sixteenConsumersRacingAcrossThreeMembersBuyExactlyTheStock() async throws {
        try await Self.withFleet { fleet in
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for consumer in 0..<16 {
                    for attempt in 0..<3 {
                        group.addTask {
                            do {
                                _ = try await fleet.buy(
                                    units: 1, client: "c\(consumer)-\(attempt)", quoteAt: consumer % 3, payAt: (consumer + attempt + 1) % 3)
                                return "paid"
                            } catch let error as WPWError where error.code == .outOfStock {
                                return "outOfStock"
                            }
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.count { $0 == "paid" } == 20)
            #expect(outcomes.count { $0 == "outOfStock" } == 28)
            #expect(try await fleet.stock() == 0)
            #expect(try await fleet.server.query("SELECT count(*) FROM producer_order WHERE state = 'paid'") == "20")
        }
    }

    @Test func aRetryAtAnotherMemberNeverStartsASecondChargeAndGetsTheSameToken() async throws {
        try await Self.withFleet { fleet in
            let quote = try await fleet.members[0].createQuote(serviceID: 1, priceID: 1, units: 2, clientID: "c", now: Fleet.now).value
            let reference = quote.paymentReferenceID
            // Member A claims and starts the charge.
            #expect(try await fleet.members[0].claimCharge(reference))
            guard case .charge = try await fleet.members[0].startPayment(paymentReferenceID: reference, clientID: "c", now: Fleet.now).value
            else { Issue.record("expected a charge"); return }
            // The consumer's retry reaches member B: it cannot claim the reference, and the order says a
            // payment is in progress; nothing is reserved twice.
            #expect(try await fleet.members[1].claimCharge(reference) == false)
            await #expect(throws: WPWError.self) {
                _ = try await fleet.members[1].startPayment(paymentReferenceID: reference, clientID: "c", now: Fleet.now)
            }
            #expect(try await fleet.stock() == 18)
            // A records the charge and lets go; B's retry now gets the paid order and its token.
            let paid = try await fleet.members[0].recordPaymentSucceeded(
                paymentReferenceID: reference, pspOrderCode: "psp-1", tokenTTL: .seconds(3600), refundOnExpiry: false, now: Fleet.now).value
            await fleet.members[0].releaseCharge(reference)
            #expect(try await fleet.members[1].claimCharge(reference))
            guard case .alreadyPaid(let seen) = try await fleet.members[1].startPayment(paymentReferenceID: reference, clientID: "c", now: Fleet.now).value
            else { Issue.record("expected alreadyPaid"); return }
            #expect(seen.token == paid.token && seen.token != nil)
            await fleet.members[1].releaseCharge(reference)
            #expect(try await fleet.server.query("SELECT attempts, charged_by FROM producer_order") == "1|member-0")
        }
    }

    @Test func aClaimHeldByAMemberThatDiesPassesToAnother() async throws {
        try await Self.withFleet(stock: nil) { fleet in
            #expect(try await fleet.members[0].claimCharge("ref-1"))
            #expect(try await fleet.members[1].claimCharge("ref-1") == false)
            #expect(try await fleet.members[2].claimCharge("ref-2"))
            // Member 0's connections end (as when its process is killed): the server drops its claims once its
            // backend has seen the connection go, which takes a moment: poll for it, bounded.
            await fleet.members[0].close()
            var taken = false
            for _ in 0..<300 where !taken {
                taken = try await fleet.members[1].claimCharge("ref-1")
                if !taken { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(taken)
            #expect(try await fleet.members[1].claimCharge("ref-2") == false)
        }
    }

    @Test func aTokenBoughtAtOneMemberIsRedeemedAtTheOthersUntilUsedUp() async throws {
        try await Self.withFleet { fleet in
            let paid = try await fleet.buy(units: 5, client: "c", quoteAt: 0, payAt: 0)
            let token = PresentedToken(try #require(paid.token))
            // Begin at B, end at C, twice; then concurrent begins at all three members for the last unit.
            for _ in 0..<2 {
                let grant = try await fleet.members[1].beginDelivery(
                    token: token, clientID: "c", serviceID: 1, units: 2, now: Fleet.now, lease: nil, policy: .releaseUnreported).value
                #expect(grant.granted == 2)
                let end = try await fleet.members[2].endDelivery(
                    token: token, clientID: "c", serviceID: 1, unitsReceived: 2, now: Fleet.now, policy: .releaseUnreported).value
                #expect(end.committed == 2)
            }
            let grants = await withTaskGroup(of: Int.self) { group in
                for member in fleet.members {
                    group.addTask {
                        (try? await member.beginDelivery(
                            token: token, clientID: "c", serviceID: 1, units: 1, now: Fleet.now, lease: nil, policy: .releaseUnreported
                        ).value.granted) ?? 0
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(grants == 1)
            let end = try await fleet.members[0].endDelivery(
                token: token, clientID: "c", serviceID: 1, unitsReceived: 1, now: Fleet.now, policy: .releaseUnreported).value
            #expect(end.unitsRemaining == 0)
            await #expect(throws: (any Error).self) {
                _ = try await fleet.members[1].beginDelivery(
                    token: token, clientID: "c", serviceID: 1, units: 1, now: Fleet.now, lease: nil, policy: .releaseUnreported)
            }
            #expect(try await fleet.server.query("SELECT purchased, delivered, in_flight FROM producer_order") == "5|5|0")
        }
    }

    @Test func aRefundOfUndeliveredUnitsIsDecidedOnceForTheFleetAndClaimedByOneMember() async throws {
        try await Self.withFleet(stock: nil) { fleet in
            // Service 2's price refunds undelivered units; its flag goes into the token at payment.
            let refunding = try Service(
                id: 2, name: "Refunding", description: "", prices: [try Price(
                    id: 1, description: "Car wash", pricePerUnit: Money(minorUnits: 500, currency: Currency(code: "GBP")!),
                    unitID: 1, unitDescription: "Single wash", refundOnExpiry: true)])
            _ = try await fleet.members[0].addService(refunding, now: Fleet.now)
            #expect(try await fleet.members[1].catalog().price(serviceID: 2, priceID: 1).refundOnExpiry)
            let quote = try await fleet.members[0].createQuote(serviceID: 2, priceID: 1, units: 4, clientID: "c", now: Fleet.now).value
            guard case .charge = try await fleet.members[0].startPayment(paymentReferenceID: quote.paymentReferenceID, clientID: "c", now: Fleet.now).value
            else { throw TestSupportError("expected a charge") }
            let paid = try await fleet.members[0].recordPaymentSucceeded(
                paymentReferenceID: quote.paymentReferenceID, pspOrderCode: "psp-r", tokenTTL: .seconds(3600), refundOnExpiry: false,
                now: Fleet.now).value
            let token = PresentedToken(try #require(paid.token))
            #expect(paid.token?.refundOnExpiry == true)
            _ = try await fleet.members[1].beginDelivery(
                token: token, clientID: "c", serviceID: 2, units: 1, now: Fleet.now, lease: nil, policy: .releaseUnreported)

            // Not expired: nothing due; the next expiry is the token's.
            let before = try await fleet.members[2].refundWork(now: Fleet.now)
            #expect(before.orders.isEmpty && before.nextExpiry == paid.token?.expiry)
            // The consumer asks at two members at once: one refund, decided once (3 units: 1 is in flight).
            let claims = [try await fleet.members[1].claimCharge(quote.paymentReferenceID), try await fleet.members[2].claimCharge(quote.paymentReferenceID)]
            #expect(claims == [true, false])
            let decided = await withTaskGroup(of: UnitRefund?.self) { group in
                for member in fleet.members[1...] {
                    group.addTask {
                        try? await member.startRefund(.token(token, clientID: "c", serviceID: 2), now: Fleet.now).value.refund
                    }
                }
                return await group.reduce(into: [UnitRefund?]()) { $0.append($1) }
            }
            let refund = try #require(decided.first ?? nil)
            #expect(decided.allSatisfy { $0 == refund })
            #expect(refund.status == .pending && refund.units == 3 && refund.amount.minorUnits == 1500 && refund.reason == .requested)
            #expect(try await fleet.members[0].refundWork(now: Fleet.now).orders.map(\.paymentReferenceID) == [quote.paymentReferenceID])
            // Refunded units are gone at every member; the unit in flight can still be ended.
            await #expect(throws: WPWError.self) {
                _ = try await fleet.members[0].beginDelivery(
                    token: token, clientID: "c", serviceID: 2, units: 1, now: Fleet.now, lease: nil, policy: .releaseUnreported)
            }
            _ = try await fleet.members[2].endDelivery(
                token: token, clientID: "c", serviceID: 2, unitsReceived: 1, now: Fleet.now, policy: .releaseUnreported)
            let issued = try await fleet.members[1].recordUnitRefundIssued(paymentReferenceID: quote.paymentReferenceID, now: Fleet.now)
            #expect(issued.value.refund?.status == .issued)
            #expect(issued.events.map(\.type) == ["producer.refundIssued"])
            await #expect(throws: WPWError.self) {
                _ = try await fleet.members[2].recordUnitRefundIssued(paymentReferenceID: quote.paymentReferenceID, now: Fleet.now)
            }
            await fleet.members[1].releaseCharge(quote.paymentReferenceID)
            #expect(try await fleet.members[0].refundWork(now: Fleet.now.adding(.seconds(7200))!).orders.isEmpty)
            #expect(try await fleet.server.query(
                "SELECT refund_reason, refund_status, refund_units, refund_amount, delivered FROM producer_order WHERE service_id = 2")
                == "requested|issued|3|1500|1")
            // The database holds the rule too: a refund and deliveries never exceed the units bought.
            await #expect(throws: (any Error).self) {
                _ = try await fleet.server.query("UPDATE producer_order SET refund_units = 4 WHERE service_id = 2")
            }
        }
    }

    @Test func eachTransitionIsInTheFleetJournalAndTheActingMembersOwn() async throws {
        try await Self.withFleet { fleet in
            _ = try await fleet.buy(units: 1, client: "c", quoteAt: 1, payAt: 2)
            let types = try await fleet.server.query("SELECT member || ' ' || type FROM fleet_event ORDER BY seq")
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(types == [
                "member-0 producer.serviceAdded", "member-1 producer.quoteCreated", "member-2 producer.paymentStarted",
                "member-2 producer.paymentSucceeded",
            ])
            #expect(try await fleet.locals[1].events(after: 0).map(\.type) == ["producer.quoteCreated"])
            #expect(try await fleet.locals[2].events(after: 0).map(\.type) == ["producer.paymentStarted", "producer.paymentSucceeded"])
            // The member's copies name it and their place in the fleet's journal.
            let copies = try await fleet.locals[2].events(after: 0)
            #expect(copies.allSatisfy { $0.payload["member"] == "member-2" })
            #expect(copies.map { $0.payload["fleetSeq"] } == [.int(3), .int(4)])
        }
    }

    @Test func expiredQuotesAndOldJournalRowsArePrunedPaidOrdersNever() async throws {
        try await Self.withFleet { fleet in
            let paid = try await fleet.buy(units: 1, client: "c", quoteAt: 0, payAt: 1)
            let stale = try await fleet.members[2].createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: Fleet.now).value
            // Eight days on: the unpaid quote expired long ago; the paid order stays whatever its age.
            let later = Instant(secondsSinceEpoch: Fleet.now.secondsSinceEpoch + 8 * 86_400, nanoseconds: 0)
            #expect(try await fleet.members[0].pruneShared(now: later) > 0)
            #expect(try await fleet.members[1].order(paymentReferenceID: stale.paymentReferenceID) == nil)
            #expect(try await fleet.members[1].order(paymentReferenceID: paid.paymentReferenceID)?.state == .paid)
            #expect(try await fleet.server.query("SELECT count(*) FROM fleet_event") == "0")
            // Run again by another member: nothing left to do.
            #expect(try await fleet.members[2].pruneShared(now: later) == 0)
        }
    }

    @Test func whileTheDatabaseIsDownAMemberRefusesAndSaysSoThenRecovers() async throws {
        try await Self.withFleet { fleet in
            let member = fleet.members[0]
            #expect(member.producerHealth().writable)
            try await onOwnThread { try fleet.server.stop() }
            let error = await #expect(throws: WPWError.self) {
                _ = try await member.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: Fleet.now)
            }
            #expect(error?.code == .unavailable)
            #expect(member.producerHealth().writable == false)
            // No claim can be asked for: unavailable, so no charge can start.
            let refused = await #expect(throws: WPWError.self) { _ = try await member.claimCharge("ref") }
            #expect(refused?.code == .unavailable)
            try await onOwnThread { try fleet.server.start() }
            // The first call after the outage may meet the pool's other broken connection; the next works.
            _ = try? await member.catalog()
            _ = try? await member.catalog()
            let quote = try await member.createQuote(serviceID: 1, priceID: 1, units: 1, clientID: "c", now: Fleet.now)
            #expect(quote.value.units == 1)
            #expect(member.producerHealth().writable)
            #expect(try await member.claimCharge("ref"))
        }
    }
}
