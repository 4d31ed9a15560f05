import Foundation
import Logging
import Testing
import WPWithinCore
import WPWithinPayments
import WPWithinTestSupport

/// The Worldpay Online client against the real sandbox process, over HTTP on 127.0.0.1.
@Suite struct SandboxGatewayTests {
    @Test
    func tokenAndOrderSucceed() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            #expect(token.value.hasPrefix("TEST_SU_"))
            let request = order(token, amount: 5000)
            let result = try await gateway.placeOrder(request)
            #expect(result.isSuccess)
            #expect(result.amount == 5000)
            #expect(result.currencyCode == "GBP")
            #expect(result.customerOrderCode == request.customerOrderCode)
            #expect(result.orderDescription == "RoboWash - 10 units @ GBP 5.00 per unit.")
            #expect(result.maskedCardNumber == "************1111")
            #expect(!result.orderCode.isEmpty)
        }
    }

    @Test func failedCardholderIsDeclined() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(name: "FAILED"), clientKey: TestKeys.merchant1.clientKey)
            let request = order(token)
            let error = await #expect(throws: WPWError.self) { try await gateway.placeOrder(request) }
            #expect(error?.code == .paymentDeclined)
            #expect(error?.data?["paymentStatus"] == "FAILED")
            #expect(error?.data?["customerOrderCode"] == .string(request.customerOrderCode))
        }
    }

    @Test func luhnInvalidCardIsRefused() async throws {
        try await withSandbox { sandbox in
            let error = await #expect(throws: WPWError.self) {
                try await sandbox.gateway().createToken(card: testCard(number: "4444333322221112"), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(error?.code == .invalidCard)
            #expect(error?.data?["customCode"] == "INVALID_PAYMENT_DETAILS")
            #expect(error?.data?["httpStatusCode"] == 400)
        }
    }

    @Test func expiredCardIsRefused() async throws {
        try await withSandbox { sandbox in
            let error = await #expect(throws: WPWError.self) {
                try await sandbox.gateway().createToken(card: testCard(month: 1, year: 2020), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(error?.code == .invalidCard)
            #expect(error?.data?["customCode"] == "CARD_EXPIRED")
        }
    }

    @Test func tokenCannotBeUsedTwice() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            _ = try await gateway.placeOrder(order(token))
            let error = await #expect(throws: WPWError.self) { try await gateway.placeOrder(order(token)) }
            #expect(error?.code == .gatewayRejected)
            #expect(error?.data?["customCode"] == "TKN_EXPIRED")
        }
    }

    @Test func unknownClientKeyIsRejected() async throws {
        try await withSandbox { sandbox in
            let error = await #expect(throws: WPWError.self) {
                try await sandbox.gateway().createToken(card: testCard(), clientKey: "T_C_nobody")
            }
            #expect(error?.code == .gatewayRejected)
            #expect(error?.data?["httpStatusCode"] == 401)
            #expect(error?.data?["customCode"] == "UNAUTHORIZED")
        }
    }

    @Test func serviceKeyMustMatchTheTokensMerchant() async throws {
        try await withSandbox { sandbox in
            let consumer = sandbox.gateway(merchant: nil)
            let token = try await consumer.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            // Another registered merchant cannot charge merchant 1's token.
            let other = sandbox.gateway(merchant: TestKeys.merchant2)
            let wrong = await #expect(throws: WPWError.self) { try await other.placeOrder(order(token)) }
            #expect(wrong?.code == .gatewayRejected)
            #expect(wrong?.data?["httpStatusCode"] == 401)
            // An unregistered service key is refused too.
            let stranger = sandbox.gateway(merchant: MerchantCredentials(clientKey: "T_C_x", serviceKey: "T_S_unknown"))
            let unknown = await #expect(throws: WPWError.self) { try await stranger.placeOrder(order(token)) }
            #expect(unknown?.code == .gatewayRejected)
            // The token was not consumed by the refused attempts.
            let result = try await sandbox.gateway(merchant: TestKeys.merchant1).placeOrder(order(token))
            #expect(result.isSuccess)
        }
    }

    @Test func consumerGatewayWithoutServiceKeyCannotCharge() async throws {
        let gateway = WorldpayOnlineGateway(
            configuration: WorldpayOnlineConfiguration(endpoint: try GatewayEndpoint("http://127.0.0.1:1/v1")),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let error = await #expect(throws: WPWError.self) { try await gateway.placeOrder(order(ClientToken("T"))) }
        #expect(error?.code == .credentials)
    }

    @Test func gatewayDownIsUnavailable() async throws {
        let port = try unusedLoopbackPort()
        let gateway = WorldpayOnlineGateway(
            configuration: WorldpayOnlineConfiguration(
                endpoint: try GatewayEndpoint("http://127.0.0.1:\(port)/v1"), merchant: TestKeys.merchant1,
                tokenRetryLimit: 2, tokenRetryDelay: .milliseconds(10)
            ),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let tokenError = await #expect(throws: WPWError.self) {
            try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
        }
        #expect(tokenError?.code == .gatewayUnavailable)
        // Connection refused means the order never reached the gateway: unavailable, not unknown.
        let orderError = await #expect(throws: WPWError.self) { try await gateway.placeOrder(order(ClientToken("TEST_SU_x"))) }
        #expect(orderError?.code == .gatewayUnavailable)
    }

    @Test
    func slowTokenTimesOut() async throws {
        try await withSandbox(slowDelayMilliseconds: 3000) { sandbox in
            let impatient = sandbox.gateway(merchant: nil, totalTimeout: .milliseconds(300))
            let error = await #expect(throws: WPWError.self) {
                try await impatient.createToken(card: testCard(name: "SLOW"), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(error?.code == .gatewayTimeout)
        }
    }

    @Test
    func slowOrderIsAnUnknownOutcomeThenReconciled() async throws {
        try await withSandbox(slowDelayMilliseconds: 1500) { sandbox in
            let consumer = sandbox.gateway(merchant: nil)
            let token = try await consumer.createToken(card: testCard(name: "SLOW"), clientKey: TestKeys.merchant1.clientKey)
            let impatient = sandbox.gateway(totalTimeout: .milliseconds(300))
            let request = order(token)
            let error = await #expect(throws: WPWError.self) { try await impatient.placeOrder(request) }
            #expect(error?.code == .paymentOutcomeUnknown)
            #expect(error?.data?["customerOrderCode"] == .string(request.customerOrderCode))
            // Reconcile: the sandbox placed the order before answering late.
            let found = try await sandbox.gateway().findOrder(customerOrderCode: request.customerOrderCode)
            #expect(found?.isSuccess == true)
            #expect(found?.amount == 5000)
        }
    }

    @Test
    func serverErrorIsUnavailableAndAnOrderOutcomeUnknown() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(name: "ERROR"), clientKey: TestKeys.merchant1.clientKey)
            // A 5xx to an order proves nothing: a load balancer's 502 may come after the gateway charged.
            let error = await #expect(throws: WPWError.self) { try await gateway.placeOrder(order(token)) }
            #expect(error?.code == .paymentOutcomeUnknown)
            #expect(error?.data?["httpStatusCode"] == 500)
            #expect(error?.data?["customCode"] == "INTERNAL_SERVER_ERROR")

            let tokenError = await #expect(throws: WPWError.self) {
                try await gateway.createToken(card: testCard(name: "TOKEN ERROR"), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(tokenError?.code == .gatewayUnavailable)
        }
    }

    @Test func malformedJSONResponseIsAProtocolError() async throws {
        try await withSandbox { sandbox in
            let error = await #expect(throws: WPWError.self) {
                try await sandbox.gateway().createToken(card: testCard(name: "GARBAGE"), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(error?.code == .gatewayProtocol)
        }
    }

    @Test
    func malformedOrderResponseIsAnUnknownOutcome() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(name: "ORDER GARBAGE"), clientKey: TestKeys.merchant1.clientKey)
            let request = order(token)
            let error = await #expect(throws: WPWError.self) { try await gateway.placeOrder(request) }
            #expect(error?.code == .paymentOutcomeUnknown)
            let found = try await gateway.findOrder(customerOrderCode: request.customerOrderCode)
            #expect(found?.isSuccess == true)
        }
    }

    @Test
    func hugeResponseIsCappedAndAProtocolError() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway(maxResponseBytes: 64 << 10)
            let error = await #expect(throws: WPWError.self) {
                try await gateway.createToken(card: testCard(name: "HUGE"), clientKey: TestKeys.merchant1.clientKey)
            }
            #expect(error?.code == .gatewayProtocol)
            #expect(error?.data?["maxResponseBytes"] == 65536)
        }
    }

    @Test func partialThenFullRefund() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            let placed = try await gateway.placeOrder(order(token, amount: 5000))

            try await gateway.refund(orderCode: placed.orderCode, amount: gbp(2000))
            let partial = try await gateway.lookupOrder(orderCode: placed.orderCode)
            #expect(partial.paymentStatus == "PARTIALLY_REFUNDED")
            #expect(partial.refundedAmount == 2000)

            let tooMuch = await #expect(throws: WPWError.self) { try await gateway.refund(orderCode: placed.orderCode, amount: gbp(3001)) }
            #expect(tooMuch?.code == .gatewayRejected)

            try await gateway.refund(orderCode: placed.orderCode, amount: nil)
            let full = try await gateway.lookupOrder(orderCode: placed.orderCode)
            #expect(full.paymentStatus == "REFUNDED")
            #expect(full.refundedAmount == 5000)

            let again = await #expect(throws: WPWError.self) { try await gateway.refund(orderCode: placed.orderCode, amount: nil) }
            #expect(again?.code == .gatewayRejected)
        }
    }

    @Test
    func lookupByOrderCodeAndCustomerOrderCode() async throws {
        try await withSandbox { sandbox in
            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            let request = order(token, amount: 1234)
            let placed = try await gateway.placeOrder(request)

            let byCode = try await gateway.lookupOrder(orderCode: placed.orderCode)
            #expect(byCode.customerOrderCode == request.customerOrderCode)
            #expect(byCode.amount == 1234)
            let byCustomer = try await gateway.findOrder(customerOrderCode: request.customerOrderCode)
            #expect(byCustomer?.orderCode == placed.orderCode)

            #expect(try await gateway.findOrder(customerOrderCode: "no-such-order") == nil)
            let missing = await #expect(throws: WPWError.self) { try await gateway.lookupOrder(orderCode: "no-such-order") }
            #expect(missing?.code == .notFound)
            // Another merchant cannot see the order.
            #expect(try await sandbox.gateway(merchant: TestKeys.merchant2).findOrder(customerOrderCode: request.customerOrderCode) == nil)
        }
    }

    @Test func sandboxRefusesBadRequestsInWorldpayShape() async throws {
        try await withSandbox { sandbox in
            let orders = sandbox.endpoint.appendingPathComponent("orders")
            let auth = ["Authorization": TestKeys.merchant1.serviceKey, "Content-Type": "application/json"]

            let malformed = try await rawExchange("POST", orders, headers: auth, body: Data("{not json".utf8))
            #expect(malformed.status == 400)
            #expect(malformed.json?["customCode"] == "ERROR_PARSING_JSON")
            #expect(malformed.json?["httpStatusCode"] == 400)
            for key in ["message", "description", "errorHelpUrl", "originalRequest"] {
                #expect(malformed.json?[key] != nil, "missing \(key)")
            }

            let oversized = try await rawExchange("POST", orders, headers: auth, body: Data(repeating: 0x61, count: 20_000))
            #expect(oversized.status == 413)
            #expect(oversized.json?["httpStatusCode"] == 413)
            #expect(oversized.json?["customCode"] == "REQUEST_TOO_LARGE")

            let gateway = sandbox.gateway()
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            let currency = #"{"token":"\#(token.value)","amount":100,"currencyCode":"XXX","orderDescription":"d","customerOrderCode":"c"}"#
            let badCurrency = try await rawExchange("POST", orders, headers: auth, body: Data(currency.utf8))
            #expect(badCurrency.json?["customCode"] == "UNSUPPORTED_CURRENCY")
            let zero = #"{"token":"\#(token.value)","amount":0,"currencyCode":"GBP","orderDescription":"d","customerOrderCode":"c"}"#
            let zeroAmount = try await rawExchange("POST", orders, headers: auth, body: Data(zero.utf8))
            #expect(zeroAmount.json?["customCode"] == "INVALID_AMOUNT")
            // Neither refusal used the token up.
            #expect(try await gateway.placeOrder(order(token)).isSuccess)
        }
    }

    @Test func localMoneyChecksRefuseBeforeSending() async throws {
        let gateway = WorldpayOnlineGateway(
            configuration: WorldpayOnlineConfiguration(endpoint: try GatewayEndpoint("http://127.0.0.1:1/v1"), merchant: TestKeys.merchant1),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let zero = await #expect(throws: WPWError.self) { try await gateway.placeOrder(order(ClientToken("T"), amount: 0)) }
        #expect(zero?.code == .amountInvalid)
        let negative = #expect(throws: WPWError.self) { try PaymentAmount.money(minorUnits: -5, currencyCode: "GBP") }
        #expect(negative?.code == .amountInvalid)
        let unknown = #expect(throws: WPWError.self) { try PaymentAmount.money(minorUnits: 5, currencyCode: "XXX") }
        #expect(unknown?.code == .unsupportedCurrency)
        #expect(try PaymentAmount.money(minorUnits: 500, currencyCode: "JPY").description == "JPY 500")
    }

    @Test func noLogOrAuditLineContainsThePANOrCVC() async throws {
        try await withSandbox { sandbox in
            let capture = LogCapture()
            let gateway = sandbox.gateway(logger: capture.logger())
            let token = try await gateway.createToken(card: testCard(), clientKey: TestKeys.merchant1.clientKey)
            _ = try await gateway.placeOrder(order(token))
            _ = try? await gateway.createToken(card: testCard(name: "GARBAGE"), clientKey: TestKeys.merchant1.clientKey)
            _ = try? await gateway.createToken(card: testCard(month: 1, year: 2020), clientKey: TestKeys.merchant1.clientKey)
            _ = try? await gateway.createToken(card: testCard(number: "4444333322221112"), clientKey: TestKeys.merchant1.clientKey)
            let declined = try await gateway.createToken(card: testCard(name: "FAILED"), clientKey: TestKeys.merchant1.clientKey)
            _ = try? await gateway.placeOrder(order(declined))
            // The card itself, logged the way careless code would.
            capture.logger().info("card", metadata: ["card": "\(testCard())", "debug": "\(String(reflecting: testCard()))"])

            let audit = sandbox.auditLines
            #expect(audit.contains { $0.contains("token.created") })
            #expect(audit.contains { $0.contains("order.placed") })
            #expect(audit.contains { $0.contains("************1111") })
            #expect(!capture.lines.isEmpty)
            #expect(!sandbox.stderrLines.isEmpty)
            for line in capture.lines + audit + sandbox.stderrLines {
                #expect(!leaksCard(line), "card data in: \(line)")
            }
        }
    }
}

/// True when `line` holds the test PAN (or its first 12 digits) or the CVC as a separate word.
func leaksCard(_ line: String) -> Bool {
    if line.contains(TestKeys.pan) || line.contains(String(TestKeys.pan.prefix(12))) { return true }
    // Words of letters, digits, '-' and '_' (so UUIDs stay whole); the CVC must not be one of them.
    let words = line.split { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    return words.contains { $0 == TestKeys.cvc }
}
