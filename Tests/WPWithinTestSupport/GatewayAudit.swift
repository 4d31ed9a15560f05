// `GatewayAudit`: what the sandbox gateway's audit log (JSONL, docs/sandbox-gateway.md) says was charged and
// refunded, per payment reference (the order's customerOrderCode) and per order.
//
//     let audit = try GatewayAudit(path: sandbox.auditLog)
//     #expect(audit.charges(reference: ref).count <= 1)          // at most one charge per reference
//     #expect(audit.netCharged(reference: ref) == paidAndHonoured ? 500 : 0)

import Foundation
import WPWithinCore

/// The charges and refunds in a sandbox audit log.
public struct GatewayAudit: Sendable {
    /// An order the gateway placed with `paymentStatus: SUCCESS`: money taken.
    public struct Charge: Sendable, Hashable {
        public var orderCode: String
        /// The payment reference the producer sent.
        public var customerOrderCode: String
        /// Minor units.
        public var amount: Int64
        public var currencyCode: String
        public var token: String
        public var timestamp: String
    }

    /// A refund the gateway made.
    public struct Refund: Sendable, Hashable {
        public var orderCode: String
        public var customerOrderCode: String
        /// Minor units, this refund alone.
        public var refundAmount: Int64
        public var timestamp: String
    }

    /// Every record, oldest first (a line that is not JSON, such as a half-written last line, is skipped).
    public let records: [JSONValue]

    public init(records: [JSONValue]) { self.records = records }

    /// Reads the audit log; a missing file is an empty log.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            self.init(records: [])
            return
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        self.init(records: data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONValue.parse($0) })
    }

    /// The records of one event (`order.placed`, `order.refunded`, `token.created`, `fault.applied`, …).
    public func events(_ name: String) -> [JSONValue] { records.filter { $0["event"]?.stringValue == name } }

    /// Orders placed with SUCCESS, oldest first.
    public var charges: [Charge] {
        events("order.placed").compactMap { record in
            guard record["paymentStatus"]?.stringValue == "SUCCESS", let orderCode = record["orderCode"]?.stringValue,
                let reference = record["customerOrderCode"]?.stringValue, let amount = record["amount"]?.int64Value
            else { return nil }
            return Charge(
                orderCode: orderCode, customerOrderCode: reference, amount: amount,
                currencyCode: record["currencyCode"]?.stringValue ?? "", token: record["token"]?.stringValue ?? "",
                timestamp: record["ts"]?.stringValue ?? ""
            )
        }
    }

    /// Orders placed and declined (`paymentStatus: FAILED`): nothing taken.
    public var declines: [JSONValue] {
        events("order.placed").filter { $0["paymentStatus"]?.stringValue == "FAILED" }
    }

    /// Refunds, oldest first.
    public var refunds: [Refund] {
        let referenceOf = Dictionary(charges.map { ($0.orderCode, $0.customerOrderCode) }, uniquingKeysWith: { first, _ in first })
        return events("order.refunded").compactMap { record in
            guard let orderCode = record["orderCode"]?.stringValue, let amount = record["refundAmount"]?.int64Value else { return nil }
            return Refund(
                orderCode: orderCode, customerOrderCode: record["customerOrderCode"]?.stringValue ?? referenceOf[orderCode] ?? "",
                refundAmount: amount, timestamp: record["ts"]?.stringValue ?? ""
            )
        }
    }

    /// Every payment reference that was charged at least once, sorted.
    public var references: [String] { Set(charges.map(\.customerOrderCode)).sorted() }

    /// The charges of one payment reference (more than one is a double charge).
    public func charges(reference: String) -> [Charge] { charges.filter { $0.customerOrderCode == reference } }

    public var chargesByReference: [String: [Charge]] { Dictionary(grouping: charges, by: \.customerOrderCode) }

    /// References charged more than once.
    public var doubleCharged: [String] { chargesByReference.filter { $0.value.count > 1 }.keys.sorted() }

    /// The refunds of one order.
    public func refunds(orderCode: String) -> [Refund] { refunds.filter { $0.orderCode == orderCode } }

    public var refundsByOrderCode: [String: [Refund]] { Dictionary(grouping: refunds, by: \.orderCode) }

    /// Minor units refunded on one order.
    public func refunded(orderCode: String) -> Int64 { refunds(orderCode: orderCode).reduce(0) { $0 + $1.refundAmount } }

    /// Charged minus refunded, in minor units, over every order of the reference.
    public func netCharged(reference: String) -> Int64 {
        charges(reference: reference).reduce(0) { $0 + $1.amount - refunded(orderCode: $1.orderCode) }
    }

    /// Minor units refunded over every order of the reference (late charges, and undelivered units).
    public func refunded(reference: String) -> Int64 {
        charges(reference: reference).reduce(0) { $0 + refunded(orderCode: $1.orderCode) }
    }

    /// The books balance for one reference: what was charged = what was `honoured` (units delivered or still
    /// deliverable, at the unit price) + what was refunded.
    public func balances(reference: String, honoured: Int64) -> Bool {
        charges(reference: reference).reduce(0) { $0 + $1.amount } == honoured + refunded(reference: reference)
    }

    /// ``netCharged(reference:)`` for every charged reference.
    public var netChargedByReference: [String: Int64] {
        Dictionary(uniqueKeysWithValues: references.map { ($0, netCharged(reference: $0)) })
    }

    /// `fault.applied` records (the sandbox's control API answered in its place).
    public var faults: [JSONValue] { events("fault.applied") }
}
