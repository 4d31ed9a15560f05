import Logging
import WPWithinCore
import WPWithinPayments

/// The payment side of this Thing: the gateway client and the credentials of each role.
///
/// The card stays here: it goes only to the gateway's tokens call, is never logged (last four digits at
/// most) and never written anywhere.
public struct PaymentsContext: Sendable {
    public let gateway: any PaymentGateway
    public let endpoint: String
    /// The consumer's card, when this Thing buys.
    public let card: PaymentCard?
    /// The producer's merchant keys, when this Thing sells.
    public let merchant: MerchantCredentials?

    /// Checks the configured credential files as start-up would (mode 0600 or stricter, readable, every
    /// field present), without keeping anything: for `wpwithind --check-config`. Returns what was checked.
    public static func checkCredentials(configuration: DaemonConfiguration) throws -> [String] {
        var checked: [String] = []
        if let path = configuration.cardFile {
            try CredentialFile.checkPermissions(path: path)
            _ = try PaymentCard.load(fromFile: path)
            checked.append("card \(path)")
        }
        if let path = configuration.merchantFile {
            try CredentialFile.checkPermissions(path: path)
            _ = try MerchantCredentials.load(fromFile: path)
            checked.append("merchant keys \(path)")
        }
        if configuration.gatewayEndpoint.lowercased().hasPrefix("https:") {
            _ = try gatewayConfiguration(configuration, merchant: nil)
            checked.append("gateway trust anchors \(configuration.gatewayCAFile ?? "(system store)")")
        }
        return checked
    }

    /// The gateway client's settings; for an `https://` endpoint the trust anchors (CA file or system store)
    /// are loaded once here, so that an unusable CA file stops the start (and `--check-config`).
    static func gatewayConfiguration(_ configuration: DaemonConfiguration, merchant: MerchantCredentials?) throws -> WorldpayOnlineConfiguration {
        let endpoint: GatewayEndpoint
        do throws(GatewayEndpointError) {
            endpoint = try GatewayEndpoint(configuration.gatewayEndpoint)
        } catch {
            throw ConfigurationError(path: "configuration", key: "payments.gatewayEndpoint", error.reason)
        }
        let gatewayConfiguration = WorldpayOnlineConfiguration(
            endpoint: endpoint,
            merchant: merchant,
            trustedCAFile: configuration.gatewayCAFile,
            connectTimeout: .milliseconds(configuration.gatewayConnectTimeoutMs),
            totalTimeout: .milliseconds(configuration.gatewayTotalTimeoutMs)
        )
        do {
            try WorldpayOnlineGateway.checkTrust(gatewayConfiguration)
        } catch {
            throw ConfigurationError(path: "configuration", key: "payments.gatewayCAFile", "cannot load the gateway's trust anchors: \(error)")
        }
        return gatewayConfiguration
    }

    static func load(configuration: DaemonConfiguration, logger: Logger) throws -> PaymentsContext {
        var card: PaymentCard?
        var merchant: MerchantCredentials?
        if let path = configuration.cardFile {
            try CredentialFile.checkPermissions(path: path)
            let loaded = try PaymentCard.load(fromFile: path)
            if loaded.isExpired() {
                logger.warning("The configured card has expired; payments will be refused", metadata: ["card": "\(loaded.maskedCardNumber)"])
            }
            logger.info("Card loaded", metadata: ["card": "\(loaded.maskedCardNumber)", "credentials.file": "\(path)"])
            card = loaded
        } else if configuration.roles.contains(.consumer) {
            logger.notice("No card configured: this Thing cannot pay (set payments.cardFile)")
        }
        if let path = configuration.merchantFile {
            try CredentialFile.checkPermissions(path: path)
            let loaded = try MerchantCredentials.load(fromFile: path)
            logger.info("Merchant keys loaded", metadata: ["merchant.client_key": "\(loaded.clientKey)", "credentials.file": "\(path)"])
            merchant = loaded
        } else if configuration.roles.contains(.producer) {
            logger.notice("No merchant keys configured: this Thing cannot take payments (set payments.merchantFile)")
        }
        let gatewayConfiguration = try gatewayConfiguration(configuration, merchant: merchant)
        let gateway = WorldpayOnlineGateway(configuration: gatewayConfiguration, logger: logger)
        return PaymentsContext(gateway: gateway, endpoint: configuration.gatewayEndpoint, card: card, merchant: merchant)
    }

    /// The same context with its gateway client wrapped (metrics and health).
    func wrappingGateway(_ wrap: (any PaymentGateway) -> any PaymentGateway) -> PaymentsContext {
        PaymentsContext(gateway: wrap(gateway), endpoint: endpoint, card: card, merchant: merchant)
    }

    /// For `getStatus`: what is configured, never a secret.
    var status: JSONValue {
        [
            "gatewayEndpoint": .string(endpoint),
            "card": card.map { .string($0.maskedCardNumber) } ?? .null,
            "merchantClientKey": merchant.map { .string($0.clientKey) } ?? .null,
        ]
    }
}
