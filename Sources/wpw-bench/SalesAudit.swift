import ArgumentParser
import WPWithinCore

/// What was sold, according to the three parties: the consumer's purchases (`listPurchases`), the producer's
/// stock (`listServices`) and the gateway's orders and refunds (its audit log, `order.placed`,
/// `order.refunded`): charged = honoured + refunded.
struct SalesAudit {
    struct ServiceSales {
        var initialStock: Int?
        var stockLeft: Int?
        var purchases = 0
        var unitsBought = 0
        var unitsDelivered = 0
        var orders = 0  // gateway orders whose customerOrderCode is one of this service's purchases
        /// Units the producer no longer has: initial − left (reserved or sold).
        var unitsGone: Int? { initialStock.flatMap { initial in stockLeft.map { initial - $0 } } }
        var oversold: Bool {
            guard let initialStock, let stockLeft else { return false }
            return stockLeft < 0 || unitsBought > initialStock || (unitsGone ?? 0) > initialStock
        }
    }

    var services: [Int: ServiceSales] = [:]
    var purchases = 0
    var orders = 0
    /// Purchases with no gateway order, or with more than one.
    var purchasesWithoutOrder: [String] = []
    var purchasesWithSeveralOrders: [String] = []
    /// Gateway orders that no purchase accounts for (money taken, nothing recorded).
    var ordersWithoutPurchase: [String] = []
    /// Purchases whose books do not balance: what the gateway charged ≠ the units not refunded at the unit
    /// price + what the gateway refunded, or the gateway's refunds ≠ the consumer's `amountRefunded`.
    var unbalanced: [String] = []
    var refunds = 0

    static func take(cluster: Cluster, initialStock: [Int: Int]) throws -> SalesAudit {
        var audit = SalesAudit()
        for (service, stock) in initialStock { audit.services[service, default: .init()].initialStock = stock }
        let catalog = try cluster.producer.client().call("listServices").arrayValue ?? []
        for service in catalog {
            guard let id = service["id"]?.int64Value, let price = service["prices"]?.arrayValue?.first else { continue }
            audit.services[Int(id), default: .init()].stockLeft = price["stock"]?.int64Value.map { Int($0) }
        }

        // Gateway orders by customerOrderCode (= the producer's paymentReferenceID).
        var ordersByReference: [String: Int] = [:]
        var chargedByReference: [String: Int64] = [:]
        var refundedByReference: [String: Int64] = [:]
        for line in (readTextFile(cluster.auditLog) ?? "").split(separator: "\n") {
            if line.contains("\"order.refunded\"") {
                let event = try JSONValue.parse(String(line))
                guard let code = event["customerOrderCode"]?.stringValue, let amount = event["refundAmount"]?.int64Value else { continue }
                refundedByReference[Order.paymentReference(ofCustomerOrderCode: code), default: 0] += amount
                audit.refunds += 1
                continue
            }
            guard line.contains("\"order.placed\"") else { continue }
            let event = try JSONValue.parse(String(line))
            guard event["paymentStatus"]?.stringValue == "SUCCESS", let code = event["customerOrderCode"]?.stringValue else { continue }
            ordersByReference[code, default: 0] += 1
            chargedByReference[Order.paymentReference(ofCustomerOrderCode: code), default: 0] += event["amount"]?.int64Value ?? 0
            audit.orders += 1
        }

        var referenced = Set<String>()
        let purchases = try cluster.consumer.client().call("listPurchases").arrayValue ?? []
        for purchase in purchases {
            guard let reference = purchase["paymentReferenceId"]?.stringValue, let service = purchase["serviceId"]?.int64Value else {
                throw ValidationError("listPurchases: unreadable purchase \(purchase.jsonString)")
            }
            audit.purchases += 1
            referenced.insert(reference)
            var sales = audit.services[Int(service), default: .init()]
            sales.purchases += 1
            sales.unitsBought += Int(purchase["unitsBought"]?.int64Value ?? 0)
            sales.unitsDelivered += Int(purchase["unitsDelivered"]?.int64Value ?? 0)
            let orders = ordersByReference[reference] ?? 0
            sales.orders += orders
            audit.services[Int(service)] = sales
            // Charged = honoured (the units not refunded, at the unit price) + refunded.
            let bought = purchase["unitsBought"]?.int64Value ?? 0
            let paid = purchase["totalPaid"]?.int64Value ?? 0
            let refundedUnits = purchase["unitsRefunded"]?.int64Value ?? 0
            let refunded = refundedByReference[reference] ?? 0
            let honoured = bought > 0 ? paid / bought * (bought - refundedUnits) : 0
            if orders > 0, chargedByReference[reference] != honoured + refunded || refunded != (purchase["amountRefunded"]?.int64Value ?? 0) {
                audit.unbalanced.append(reference)
            }
            if orders == 0 { audit.purchasesWithoutOrder.append(reference) }
            if orders > 1 { audit.purchasesWithSeveralOrders.append(reference) }
        }
        audit.ordersWithoutPurchase = ordersByReference.keys.filter { !referenced.contains($0) }.sorted()
        return audit
    }

    /// Adds the oversell and one-order-per-payment checks for `services` (nil: every service) to the report.
    func record(in report: Report, key: String, label: String, services only: Set<Int>? = nil) {
        let selected = services.filter { only?.contains($0.key) ?? true }.sorted { $0.key < $1.key }
        let oversold = selected.filter { $0.value.oversold }
        report.check("\(key).noOversell", "\(label): units sold ≤ stock", oversold.isEmpty, selected.compactMap { id, sales in
            guard let initial = sales.initialStock else { return nil }
            return "service \(id): stock \(initial), left \(sales.stockLeft.map(String.init) ?? "?"), bought \(sales.unitsBought) in \(sales.purchases) purchases"
        }.joined(separator: "; "))
        let purchases = selected.reduce(0) { $0 + $1.value.purchases }
        let orders = selected.reduce(0) { $0 + $1.value.orders }
        let oneEach = purchasesWithoutOrder.isEmpty && purchasesWithSeveralOrders.isEmpty && ordersWithoutPurchase.isEmpty
        report.check("\(key).oneOrderPerPayment", "\(label): every payment has exactly one gateway order", oneEach,
            "\(purchases) purchases, \(orders) orders; \(purchasesWithoutOrder.count) without an order, "
            + "\(purchasesWithSeveralOrders.count) with several; \(ordersWithoutPurchase.count) orders without a purchase "
            + "(all services: \(self.purchases) purchases, \(self.orders) orders)")
        report.check("\(key).chargedIsHonouredPlusRefunded", "\(label): charged = honoured + refunded, for every purchase", unbalanced.isEmpty,
            "\(refunds) refunds at the gateway; \(unbalanced.count) purchases whose books do not balance"
            + (unbalanced.isEmpty ? "" : ": " + unbalanced.prefix(5).joined(separator: ", ")))
    }
}
