import Testing
import WPWithinCore

@Suite struct DomainCatalogTests {
    @Test func buildsAValidCatalog() throws {
        let catalog = try Fixture.catalog()
        #expect(catalog.sortedServices.map(\.id) == [1, 2])
        #expect(catalog.serviceTypes == ["pi-led", "wash"])
        #expect(try catalog.price(serviceID: 1, priceID: 2).pricePerUnit == Money(minorUnits: 650, currency: Fixture.gbp))
        // Price ids are unique per service only (pi-led reuses 1 and 2).
        #expect(try catalog.price(serviceID: 2, priceID: 1).unitDescription == "One second")
    }

    @Test func duplicateIdsAreRejected() throws {
        let catalog = try Fixture.catalog()
        let dup = try Service(id: 1, name: "Other", description: "")
        #expect { try catalog.adding(dup) } throws: { ($0 as? WPWError)?.code == .alreadyExists }
        let price = try Price(id: 1, description: "again", amount: 1, currencyCode: "GBP", unitID: 1, unitDescription: "u")
        #expect { try Service(id: 9, name: "n", description: "", prices: [price, price]) } throws: { ($0 as? WPWError)?.code == .alreadyExists }
        #expect { try catalog.service(id: 1).adding(price) } throws: { ($0 as? WPWError)?.code == .alreadyExists }
        #expect { try Catalog(services: [dup, dup]) } throws: { ($0 as? WPWError)?.code == .alreadyExists }
    }

    @Test func lookupsUseGoMessages() throws {
        let catalog = try Fixture.catalog()
        #expect(throws: WPWError(.notFound, "Service not found for id 99")) { try catalog.service(id: 99) }
        #expect(throws: WPWError(.notFound, "Price not found for id 99")) { try catalog.price(serviceID: 1, priceID: 99) }
        #expect(throws: WPWError(.notFound, "Service not found for id 7")) { try catalog.removing(serviceID: 7) }
        let smaller = try catalog.removing(serviceID: 2)
        #expect(smaller.services.keys.sorted() == [1])
        #expect(catalog.services.count == 2)  // the original is untouched
        #expect(try smaller.service(id: 1).removingPrice(id: 2).prices.keys.sorted() == [1])
    }

    @Test func validation() throws {
        func code(_ body: () throws -> Any) -> WPWError.Code? {
            do { _ = try body(); return nil } catch { return (error as? WPWError)?.code }
        }
        #expect(code { try Service(id: 1, name: "", description: "") } == .invalidParams)
        #expect(code { try Service(id: 1, name: "   ", description: "") } == .invalidParams)
        #expect(code { try Service(id: 1, name: "a\u{7}b", description: "") } == .invalidParams)
        #expect(code { try Service(id: 1, name: String(repeating: "x", count: 257), description: "") } == .invalidParams)
        #expect(code { try Service(id: 0, name: "n", description: "") } == .invalidParams)
        #expect(code { try Service(id: -3, name: "n", description: "") } == .invalidParams)
        #expect(code { try Service(id: Int(Int32.max) + 1, name: "n", description: "") } == .invalidParams)
        #expect(code { try Price(id: 1, description: "d", amount: 0, currencyCode: "GBP", unitID: 1, unitDescription: "u") } == .amountInvalid)
        #expect(code { try Price(id: 1, description: "d", amount: -5, currencyCode: "GBP", unitID: 1, unitDescription: "u") } == .amountInvalid)
        #expect(code { try Price(id: 1, description: "d", amount: 5, currencyCode: "XXX", unitID: 1, unitDescription: "u") } == .unsupportedCurrency)
        #expect(code { try Price(id: 1, description: "d", amount: 5, currencyCode: "gbp", unitID: 1, unitDescription: "u") } == .unsupportedCurrency)
        #expect(code { try Price(id: 1, description: "d", amount: 5, currencyCode: "GBP", unitID: 1, unitDescription: "") } == .invalidParams)
        #expect(code { try Price(id: 1, description: "d", amount: 5, currencyCode: "GBP", unitID: -1, unitDescription: "u") } == .invalidParams)
        #expect(code { try Price(id: 1, description: "d", amount: 5, currencyCode: "GBP", unitID: 1, unitDescription: "u", stock: -1) } == .invalidParams)
        #expect(code { try Price(id: 1, description: "", amount: 5, currencyCode: "JPY", unitID: 0, unitDescription: "u", stock: 0) } == nil)
    }
}

@Suite struct DomainStockTests {
    @Test func quotesNeverExceedTheStock() throws {
        let catalog = try Fixture.catalog(stock: 5)
        #expect { try Fixture.quote(units: 6, catalog: catalog) } throws: { ($0 as? WPWError)?.code == .outOfStock }
        _ = try Fixture.quote(units: 5, catalog: catalog)
        // Unlimited stock never runs out.
        let unlimited = try Fixture.catalog()
        #expect(try unlimited.reservingStock(serviceID: 1, priceID: 1, units: 1_000_000) == unlimited)
    }

    @Test func paymentReservesStockSoTwoQuotesCannotOversell() throws {
        var catalog = try Fixture.catalog(stock: 5)
        let first = Order(quote: try Fixture.quote(units: 3, catalog: catalog, seed: 1))
        let second = Order(quote: try Fixture.quote(units: 3, catalog: catalog, seed: 2))  // quoted while 5 were left
        guard case .charge(let pending, let reserved) = try first.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) else {
            Issue.record("expected a charge"); return
        }
        catalog = reserved
        #expect(try catalog.price(serviceID: 1, priceID: 1).stock == 2)
        #expect { try second.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: catalog) } throws: {
            ($0 as? WPWError)?.code == .outOfStock
        }
        // The first charge fails: its units go back, and the second order can now be paid.
        let (failed, released) = try pending.paymentFailed(reason: "declined", catalog: catalog)
        #expect(failed.state == .failed)
        #expect(try released.price(serviceID: 1, priceID: 1).stock == 5)
        guard case .charge(_, let afterSecond) = try second.startPayment(clientID: Fixture.clientID, now: Fixture.t0, catalog: released) else {
            Issue.record("expected a charge"); return
        }
        #expect(try afterSecond.price(serviceID: 1, priceID: 1).stock == 2)
    }

    @Test func stockOperationsValidate() throws {
        let catalog = try Fixture.catalog(stock: 1)
        #expect { try catalog.reservingStock(serviceID: 1, priceID: 1, units: 0) } throws: { ($0 as? WPWError)?.code == .invalidParams }
        #expect { try catalog.reservingStock(serviceID: 1, priceID: 1, units: 2) } throws: { ($0 as? WPWError)?.code == .outOfStock }
        #expect { try catalog.releasingStock(serviceID: 1, priceID: 9, units: 1) } throws: { ($0 as? WPWError)?.code == .notFound }
        let empty = try catalog.reservingStock(serviceID: 1, priceID: 1, units: 1)
        #expect(try empty.price(serviceID: 1, priceID: 1).stock == 0)
        #expect { try empty.reservingStock(serviceID: 1, priceID: 1, units: 1) } throws: { ($0 as? WPWError)?.code == .outOfStock }
    }
}
