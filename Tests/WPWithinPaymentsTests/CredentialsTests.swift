import Foundation
import Testing
import WPWithinCore
import WPWithinPayments
import WPWithinTestSupport

@Suite struct CredentialsTests {
    @Test func cardNeverShowsPANOrCVC() {
        let card = testCard()
        var dumped = ""
        dump(card, to: &dumped)
        let mirrored = Mirror(reflecting: card).children.map { "\($0.label ?? ""):\($0.value)" }.joined(separator: ",")
        for text in [card.description, card.debugDescription, "\(card)", String(reflecting: card), dumped, mirrored] {
            #expect(!leaksCard(text), "leak in \(text)")
            #expect(text.contains("1111"), "last four missing in \(text)")
        }
        #expect(card.maskedCardNumber == "************1111")
        #expect(card.cardNumber == TestKeys.pan)
    }

    @Test func merchantServiceKeyIsMasked() {
        let merchant = TestKeys.merchant1
        var dumped = ""
        dump(merchant, to: &dumped)
        for text in [merchant.description, String(reflecting: merchant), dumped] {
            #expect(!text.contains(merchant.serviceKey), "leak in \(text)")
            #expect(text.contains(merchant.clientKey))
        }
    }

    @Test func luhn() {
        #expect(Luhn.isValid("4444333322221111"))
        #expect(Luhn.isValid("4111111111111111"))
        #expect(Luhn.isValid("5555555555554444"))
        #expect(!Luhn.isValid("4444333322221112"))
        #expect(!Luhn.isValid("4444 3333 2222 1111"))
        #expect(!Luhn.isValid("12345"))
        #expect(!Luhn.isValid(""))
    }

    @Test func expiry() throws {
        let date = Instant(secondsSinceEpoch: 1_781_524_800)  // 2026-06-15T12:00:00Z
        #expect(date.rfc3339Milliseconds == "2026-06-15T12:00:00.000Z")
        #expect(!testCard(month: 6, year: 2026).isExpired(at: date))
        #expect(testCard(month: 5, year: 2026).isExpired(at: date))
        #expect(testCard(month: 12, year: 2025).isExpired(at: date))
        #expect(!testCard(month: 1, year: 2027).isExpired(at: date))
    }

    @Test func loadsCardAndMerchantFilesWithPrivatePermissions() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let cardPath = try directory.write(
            #"{"firstName":"Joe","lastName":"Bloggs","expMonth":12,"expYear":2030,"cardNumber":"4444333322221111","type":"Card","cvc":"123"}"#,
            to: "card.json"
        )
        let card = try PaymentCard.load(fromFile: cardPath)
        #expect(card.cardholderName == "Joe Bloggs")
        #expect(card.expiryMonth == 12 && card.expiryYear == 2030)
        #expect(card.cardNumber == "4444333322221111" && card.cvc == "123" && card.type == "Card")

        let merchantPath = try directory.write(
            #"{"clientKey":"T_C_1","serviceKey":"T_S_1"}"#, to: "merchant.json", permissions: 0o400
        )
        #expect(try MerchantCredentials.load(fromFile: merchantPath) == MerchantCredentials(clientKey: "T_C_1", serviceKey: "T_S_1"))
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o610])
    func refusesFilesOpenToGroupOrOthers(mode: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write(#"{"clientKey":"T_C_1","serviceKey":"T_S_1"}"#, to: "merchant.json", permissions: mode)
        let error = #expect(throws: WPWError.self) { try MerchantCredentials.load(fromFile: path) }
        #expect(error?.code == .credentials)
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("chmod 600") == true)
        let cardError = #expect(throws: WPWError.self) { try PaymentCard.load(fromFile: path) }
        #expect(cardError?.code == .credentials)
    }

    @Test func refusesMissingAndIncompleteFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let missing = #expect(throws: WPWError.self) { try PaymentCard.load(fromFile: directory.path("nope.json")) }
        #expect(missing?.code == .credentials)
        let partial = try directory.write(#"{"name":"Joe","cardNumber":"4444333322221111","expMonth":12,"expYear":2030}"#, to: "card.json")
        let incomplete = #expect(throws: WPWError.self) { try PaymentCard.load(fromFile: partial) }
        #expect(incomplete?.data?["field"] == "cvc")
        #expect(incomplete.map { !leaksCard($0.description) } == true)
    }

    @Test func orderDescriptionKeepsTheGoFormat() throws {
        #expect(OrderDescription.make(serviceName: "RoboWash", units: 10, unitPrice: gbp(500)) == "RoboWash - 10 units @ GBP 5.00 per unit.")
        let jpy = try #require(Currency(code: "JPY"))
        #expect(OrderDescription.make(serviceName: "Car", units: 1, unitPrice: Money(minorUnits: 500, currency: jpy)) == "Car - 1 units @ JPY 500 per unit.")
        let bhd = try #require(Currency(code: "BHD"))
        #expect(OrderDescription.make(serviceName: "Tea", units: 2, unitPrice: Money(minorUnits: 1250, currency: bhd)) == "Tea - 2 units @ BHD 1.250 per unit.")
    }

    @Test func exampleFilesParse() throws {
        // The repository's examples (permissions are not tracked by git, so copy them to private files).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let card = try String(contentsOf: root.appendingPathComponent("config/card.example.json"), encoding: .utf8)
        let merchant = try String(contentsOf: root.appendingPathComponent("config/merchant.example.json"), encoding: .utf8)
        #expect(try PaymentCard.load(fromFile: directory.write(card, to: "card.json")).passesLuhn)
        #expect(try MerchantCredentials.load(fromFile: directory.write(merchant, to: "merchant.json")) == TestKeys.merchant1)
    }
}
