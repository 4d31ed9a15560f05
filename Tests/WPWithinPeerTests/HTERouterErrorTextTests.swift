import Logging
import Testing
import WPWithinCore
import WPWithinHTTP
import WPWithinPeer
import WPWithinTestSupport
import WPWithinWire

/// What a remote peer learns from an HTE error body: refusals about its own request keep their text; store,
/// credential and gateway details stay in the producer's log (defect 9 of issue 11).
@Suite struct HTERouterErrorTextTests {
    /// Throws `error` from every route.
    struct FailingProducer: HTEProducer {
        let error: WPWError
        func discover(caller: HTECaller) async throws -> ServiceListResponse { throw error }
        func prices(serviceID: Int, caller: HTECaller) async throws -> ServicePriceResponse { throw error }
        func requestTotal(serviceID: Int, _ request: TotalPriceRequest, caller: HTECaller) async throws -> TotalPriceResponse { throw error }
        func payment(_ request: PaymentRequest, caller: HTECaller) async throws -> PaymentResponse { throw error }
        func beginDelivery(serviceID: Int, _ request: BeginServiceDeliveryRequest, caller: HTECaller) async throws -> BeginServiceDeliveryResponse {
            throw error
        }
        func endDelivery(serviceID: Int, _ request: EndServiceDeliveryRequest, caller: HTECaller) async throws -> EndServiceDeliveryResponse {
            throw error
        }
    }

    func answer(_ error: WPWError, path: String = "/service/discover", log: LogCapture) async throws -> ErrorResponse {
        let router = HTERouter(producer: FailingProducer(error: error), logger: log.logger)
        let response = await router.handle(HTTPRequest(method: "GET", uri: path), caller: HTECaller())
        #expect(response.status == HTEStatus.forError(error.code))
        return try GoJSON.decode(ErrorResponse.self, from: response.body)
    }

    @Test func aStoreErrorReachesTheLogNotThePeer() async throws {
        let log = LogCapture()
        let detail = "store: database or disk is full"
        let body = try await answer(WPWError(.internalError, detail), path: "/service/7/prices", log: log)
        #expect(body.httpStatusCode == 500)
        #expect(body.message == "Internal error")
        #expect(body.errorCode == WPWError.Code.internalError.rawValue)
        #expect(!body.message.contains("store"))
        let logged = log.entries("HTE request failed")
        #expect(logged.count == 1)
        #expect(logged.first?.level == .error)
        #expect(logged.first?.metadata["error"] == detail)
        #expect(logged.first?.metadata["hte.path"] == "/service/7/prices")
    }

    @Test(arguments: [
        (WPWError(.credentials, "credential file /etc/wpwithind/credentials/merchant.json lacks a valid serviceKey"), "This producer cannot take payments"),
        (WPWError(.gatewayProtocol, "unexpected gateway answer: HTTP Status: 302 - CustomCode:  - Message: "), "The payment gateway failed"),
        (WPWError(.gatewayRejected, "HTTP Status: 401 - CustomCode: UNAUTHORIZED - Message: bad service key"), "The payment gateway failed"),
        (WPWError(.gatewayUnavailable, "HTTP Status: 500 - CustomCode: X - Message: db node 3 down"), "The payment gateway is unavailable"),
        (WPWError(.roleDisabled, "the producer role is not enabled"), "Internal error"),
    ])
    func operatorDetailsAreWithheld(error: WPWError, message: String) async throws {
        let log = LogCapture()
        let body = try await answer(error, log: log)
        #expect(body.message == message)
        #expect(body.errorCode == error.code.rawValue)
        #expect(log.entries("HTE request failed").first?.metadata["error"] == error.message)
    }

    @Test(arguments: [
        WPWError(.notFound, "Service not found for id 7"),
        WPWError(.outOfStock, "only 2 units left"),
        WPWError(.paymentDeclined, "HTTP Status: 402 - CustomCode: PAYMENT_DECLINED - Message: declined"),
        WPWError(.paymentOutcomeUnknown, "the payment's outcome is not known yet; it will be reconciled"),
        WPWError(.invalidToken, "the delivery token is not valid"),
    ])
    func refusalsAboutThePeersRequestKeepTheirText(error: WPWError) async throws {
        let log = LogCapture()
        let body = try await answer(error, log: log)
        #expect(body.message == error.message)
        #expect(log.entries("HTE request failed").isEmpty)
    }

    @Test func theRefusalAndTimeoutAnswersHaveTheGoShape() throws {
        for (response, status) in [(HTERouter.connectionRefusedResponse, 503), (HTERouter.requestTimeoutResponse, 408)] {
            #expect(response.status == status)
            #expect(response.headers["Content-Type"] == HTERouter.contentType)
            let body = try GoJSON.decode(ErrorResponse.self, from: response.body)
            #expect(body.httpStatusCode == status)
            #expect(body.errorCode != 0)
            #expect(String(decoding: response.body, as: UTF8.self).hasPrefix(#"{"HTTPStatusCode":\#(status),"message":""#))
        }
    }
}
