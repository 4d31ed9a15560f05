import Testing
import WPWithinCore

/// `SpendingPolicy.evaluate`: no I/O, each limit at its edge (equal allowed, one minor unit over refused).
@Suite struct SpendingPolicyEvaluationTests {
    static let gbp = Currency(code: "GBP")!
    static let usd = Currency(code: "USD")!
    static let producer = "cfdc20bd-0076-4027-4577-f1dfa9dc6cae"

    static func request(_ total: Int64, units: Int = 1, currency: Currency = gbp, serviceType: String? = "wash", serverID: String = producer)
        -> SpendingRequest {
        SpendingRequest(serverID: serverID, serviceType: serviceType, total: Money(minorUnits: total, currency: currency), units: units)
    }

    static func spent(day: Int64 = 0, dayPending: Int64 = 0, month: Int64 = 0, monthPending: Int64 = 0) -> SpentByWindow {
        SpentByWindow(day: SpentAmount(purchased: day, pending: dayPending), month: SpentAmount(purchased: month, pending: monthPending))
    }

    @Test func anEmptyPolicyAllowsEverything() {
        let policy = SpendingPolicy()
        #expect(policy.isEmpty && !policy.hasBudgets && !policy.needsServiceType)
        #expect(policy.evaluate(Self.request(.max / 2, units: 1_000_000), spent: Self.spent(day: .max / 2)) == nil)
    }

    @Test func maxTotalAllowsItsEdgeAndRefusesOneMinorUnitOver() throws {
        var policy = SpendingPolicy()
        policy.maxTotal = ["GBP": 500]
        #expect(policy.evaluate(Self.request(500), spent: Self.spent()) == nil)
        let refusal = try #require(policy.evaluate(Self.request(501), spent: Self.spent()))
        #expect(refusal.rule == .maxTotal && refusal.rule.code == .spendingLimitExceeded)
        #expect(refusal.limitAmount == 500 && refusal.requested == 501 && refusal.exceededBy == 1 && refusal.remaining == nil)
        // Another currency is not limited by a map that does not name it.
        #expect(policy.evaluate(Self.request(10_000, currency: Self.usd), spent: Self.spent()) == nil)
        let error = refusal.error(paymentReferenceID: "ref-1")
        #expect(error.code.rawValue == -32050)
        #expect(error.data?["limit"] == "maxTotal")
        #expect(error.data?["limitAmount"] == 500 && error.data?["requested"] == 501 && error.data?["exceededBy"] == 1)
        #expect(error.data?["currencyCode"] == "GBP" && error.data?["paymentReferenceId"] == "ref-1")
    }

    @Test func maxUnitPriceIsTheTotalPerUnitRoundedUp() throws {
        var policy = SpendingPolicy()
        policy.maxUnitPrice = ["GBP": 100]
        #expect(policy.evaluate(Self.request(300, units: 3), spent: Self.spent()) == nil)
        let refusal = try #require(policy.evaluate(Self.request(301, units: 3), spent: Self.spent()))
        #expect(refusal.rule == .maxUnitPrice && refusal.requested == 101 && refusal.exceededBy == 1)
        #expect(policy.evaluate(Self.request(100), spent: Self.spent()) == nil)
        #expect(policy.evaluate(Self.request(101), spent: Self.spent())?.rule == .maxUnitPrice)
    }

    @Test func maxUnitsAllowsItsEdge() throws {
        var policy = SpendingPolicy()
        policy.maxUnits = 5
        #expect(policy.evaluate(Self.request(5, units: 5), spent: Self.spent()) == nil)
        let refusal = try #require(policy.evaluate(Self.request(6, units: 6), spent: Self.spent()))
        #expect(refusal.rule == .maxUnits && refusal.limitAmount == 5 && refusal.requested == 6 && refusal.exceededBy == 1)
        #expect(refusal.error(paymentReferenceID: "r").data?["limit"] == "maxUnits")
    }

    @Test func theDailyBudgetCountsPurchasesAndPendingPayments() throws {
        var policy = SpendingPolicy()
        policy.dailyBudget = ["GBP": 1000]
        #expect(policy.hasBudgets)
        #expect(policy.evaluate(Self.request(400), spent: Self.spent(day: 500, dayPending: 100)) == nil)
        let refusal = try #require(policy.evaluate(Self.request(401), spent: Self.spent(day: 500, dayPending: 100)))
        #expect(refusal.rule == .dailyBudget && refusal.exceededBy == 1 && refusal.remaining == 400)
        let data = refusal.error(paymentReferenceID: "r").data
        #expect(data?["spent"] == 600 && data?["pending"] == 100 && data?["remaining"] == 400 && data?["windowSeconds"] == 86_400)
        // The month's figures do not count against the day.
        #expect(policy.evaluate(Self.request(1000), spent: Self.spent(month: 1_000_000)) == nil)
    }

    @Test func theMonthlyBudgetIsThirtyRollingDays() throws {
        var policy = SpendingPolicy()
        policy.monthlyBudget = ["GBP": 2000]
        #expect(SpendingPolicy.month == .seconds(30 * 86_400))
        #expect(policy.evaluate(Self.request(500), spent: Self.spent(month: 1400, monthPending: 100)) == nil)
        let refusal = try #require(policy.evaluate(Self.request(501), spent: Self.spent(month: 1400, monthPending: 100)))
        #expect(refusal.rule == .monthlyBudget && refusal.exceededBy == 1 && refusal.remaining == 500)
        #expect(refusal.error(paymentReferenceID: "r").data?["windowSeconds"] == 2_592_000)
        // A budget already overspent (a policy lowered) has nothing left, never a negative remainder.
        #expect(policy.evaluate(Self.request(1), spent: Self.spent(month: 3000))?.remaining == 0)
    }

    @Test func aZeroBudgetRefusesAnything() {
        var policy = SpendingPolicy()
        policy.dailyBudget = ["GBP": 0]
        #expect(policy.evaluate(Self.request(1), spent: Self.spent())?.rule == .dailyBudget)
    }

    @Test func producerLists() throws {
        var policy = SpendingPolicy()
        policy.allowProducers = [Self.producer]
        #expect(policy.evaluate(Self.request(1, serverID: Self.producer.uppercased()), spent: Self.spent()) == nil)
        let other = "00000000-0000-4000-8000-000000000000"
        let refusal = try #require(policy.evaluate(Self.request(1, serverID: other), spent: Self.spent()))
        #expect(refusal.rule == .allowProducers && refusal.rule.code == .producerNotAllowed && refusal.subject == other)
        #expect(refusal.error(paymentReferenceID: "r").data?["serverId"] == .string(other))
        policy.denyProducers = [Self.producer]
        #expect(policy.evaluate(Self.request(1), spent: Self.spent())?.rule == .denyProducers)
    }

    @Test func serviceTypeLists() throws {
        var policy = SpendingPolicy()
        policy.denyServiceTypes = ["parking"]
        #expect(policy.needsServiceType)
        #expect(policy.evaluate(Self.request(1, serviceType: "wash"), spent: Self.spent()) == nil)
        #expect(policy.evaluate(Self.request(1, serviceType: "parking"), spent: Self.spent())?.rule == .denyServiceTypes)
        // A type the producer did not name cannot be shown not to be denied.
        #expect(policy.evaluate(Self.request(1, serviceType: nil), spent: Self.spent())?.rule == .denyServiceTypes)
        policy = SpendingPolicy()
        policy.allowServiceTypes = ["wash"]
        #expect(policy.evaluate(Self.request(1, serviceType: "wash"), spent: Self.spent()) == nil)
        let refusal = try #require(policy.evaluate(Self.request(1, serviceType: "charge"), spent: Self.spent()))
        #expect(refusal.rule == .allowServiceTypes && refusal.rule.code.rawValue == -32052)
        #expect(refusal.error(paymentReferenceID: "r").data?["serviceType"] == "charge")
    }

    @Test func currencyList() {
        var policy = SpendingPolicy()
        policy.allowCurrencies = ["GBP"]
        #expect(policy.evaluate(Self.request(1), spent: Self.spent()) == nil)
        let refusal = policy.evaluate(Self.request(1, currency: Self.usd), spent: Self.spent())
        #expect(refusal?.rule == .allowCurrencies && refusal?.rule.code.rawValue == -32053)
    }

    @Test func listsComeBeforeLimitsAndTheDayBeforeTheMonth() {
        var policy = SpendingPolicy()
        policy.denyProducers = [Self.producer]
        policy.maxTotal = ["GBP": 1]
        policy.dailyBudget = ["GBP": 1]
        policy.monthlyBudget = ["GBP": 1]
        #expect(policy.evaluate(Self.request(5), spent: Self.spent())?.rule == .denyProducers)
        policy.denyProducers = []
        #expect(policy.evaluate(Self.request(5), spent: Self.spent())?.rule == .maxTotal)
        policy.maxTotal = [:]
        #expect(policy.evaluate(Self.request(5), spent: Self.spent())?.rule == .dailyBudget)
    }

    @Test func budgetsReportWhatIsLeft() {
        var policy = SpendingPolicy()
        policy.dailyBudget = ["GBP": 1000, "EUR": 50]
        policy.monthlyBudget = ["GBP": 5000]
        let budgets = policy.budgets(spent: ["GBP": Self.spent(day: 300, dayPending: 200, month: 900, monthPending: 200)])
        #expect(budgets.map(\.currencyCode) == ["EUR", "GBP", "GBP"])
        #expect(budgets.map(\.window) == [.day, .day, .month])
        #expect(budgets.map(\.remaining) == [50, 500, 3900])
        #expect(budgets[1].json["spent"] == 500 && budgets[1].json["pending"] == 200 && budgets[1].json["purchased"] == 300)
    }
}
