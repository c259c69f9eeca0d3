import Foundation
import GRDB
import SagaHTTP
import SagaProtocol
public import ServiceKit

/// The payments participant: customer wallets debited by `AuthorizePayment`, credited back once by `RefundPayment`.
public enum PaymentsService {
    /// Demo wallets when `payments.accounts` is not set.
    public static let defaultAccounts = "alice=1000000,bob=5000,carol=0"

    /// The participant definition the `payments` executable runs.
    public static var definition: ParticipantDefinition {
        var handlers = CommandHandlers()
        handlers.action("AuthorizePayment", authorize)
        handlers.compensation("RefundPayment", refund)
        return ParticipantDefinition(
            name: "payments", defaultPort: 8082, migrations: migrate,
            seed: { db, settings in
                for (id, balance) in try settings.amounts(forKey: "payments.accounts", default: defaultAccounts) {
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO accounts (id, balance, initial_balance) VALUES (?, ?, ?)",
                        arguments: [id, balance, balance])
                }
            },
            handlers: handlers, routes: routes,
            helpRows: [("--payments-accounts LIST", "PAYMENTS_ACCOUNTS", "demo wallets, id=cents,… (default \(defaultAccounts))")])
    }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("payments-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE accounts (
                        id TEXT PRIMARY KEY,
                        balance INTEGER NOT NULL CHECK (balance >= 0),
                        initial_balance INTEGER NOT NULL
                    );
                    CREATE TABLE payments (
                        id TEXT PRIMARY KEY,
                        order_id TEXT NOT NULL,
                        customer_id TEXT NOT NULL,
                        saga_id TEXT NOT NULL,
                        amount INTEGER NOT NULL,
                        status TEXT NOT NULL
                    );
                    CREATE INDEX payments_order ON payments(order_id);
                    CREATE INDEX payments_saga ON payments(saga_id);
                    """)
        }
    }

    struct Authorize: Decodable {
        var orderId: String
        var customerId: String
        var amount: Int
    }

    /// A wallet as `GET /accounts` shows it.
    public struct Account: Codable, Sendable, Equatable {
        public var id: String
        public var balance: Int
    }

    /// A payment as `GET /payments` shows it.
    public struct Payment: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var customerId: String
        public var amount: Int
        public var status: String
    }

    static func authorize(_ context: CommandContext) throws -> CommandResult {
        let input = try context.payload(Authorize.self)
        guard input.amount > 0 else { return .failed(code: "invalid_amount", "amount must be positive, got \(input.amount)") }
        guard let balance = try Int.fetchOne(context.db, sql: "SELECT balance FROM accounts WHERE id = ?", arguments: [input.customerId])
        else { return .failed(code: "unknown_account", "no account '\(input.customerId)'") }
        guard balance >= input.amount else {
            return .failed(code: "insufficient_funds", "balance \(balance) is less than \(input.amount)")
        }
        let paymentId = "p-\(TimeOrderedUUID.make())"
        try context.db.execute(
            sql: "UPDATE accounts SET balance = balance - ? WHERE id = ?", arguments: [input.amount, input.customerId])
        try context.db.execute(
            sql: "INSERT INTO payments (id, order_id, customer_id, saga_id, amount, status) VALUES (?, ?, ?, ?, ?, 'authorized')",
            arguments: [paymentId, input.orderId, input.customerId, context.command.sagaId, input.amount])
        let payment = Payment(id: paymentId, orderId: input.orderId, customerId: input.customerId, amount: input.amount, status: "authorized")
        try context.publish("PaymentAuthorized", stream: "payment-\(paymentId)", data: payment)
        return try .succeeded(["paymentId": paymentId])
    }

    static func refund(_ context: CommandContext) throws -> CommandResult {
        let rows = try Row.fetchAll(
            context.db, sql: "SELECT id, order_id, customer_id, amount FROM payments WHERE saga_id = ? AND status = 'authorized'",
            arguments: [context.command.sagaId])
        for row in rows {
            let payment = Payment(id: row["id"], orderId: row["order_id"], customerId: row["customer_id"], amount: row["amount"], status: "refunded")
            try context.db.execute(
                sql: "UPDATE accounts SET balance = balance + ? WHERE id = ?", arguments: [payment.amount, payment.customerId])
            try context.db.execute(sql: "UPDATE payments SET status = 'refunded' WHERE id = ?", arguments: [payment.id])
            try context.publish("PaymentRefunded", stream: "payment-\(payment.id)", data: payment)
        }
        return try .succeeded(["refunded": rows.count])
    }

    static func routes(_ router: inout Router, _ database: DatabasePool) {
        router.get("/accounts") { _ in
            try .json(try await database.read { db in try fetchAccounts(db, sql: "SELECT id, balance FROM accounts ORDER BY id") })
        }
        router.get("/accounts/{id}") { request in
            let id = request.parameter("id")
            let account = try await database.read { db in
                try fetchAccounts(db, sql: "SELECT id, balance FROM accounts WHERE id = ?", arguments: [id]).first
            }
            guard let account else { throw Problem.notFound("no account '\(id)'") }
            return try .json(account)
        }
        router.get("/payments") { request in
            let orderId = request.query["orderId"]
            let customerId = request.query["customerId"]
            let payments = try await database.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, order_id, customer_id, amount, status FROM payments
                        WHERE (?1 IS NULL OR order_id = ?1) AND (?2 IS NULL OR customer_id = ?2) ORDER BY rowid LIMIT 10000
                        """,
                    arguments: [orderId, customerId]
                ).map { row in
                    Payment(id: row["id"], orderId: row["order_id"], customerId: row["customer_id"], amount: row["amount"], status: row["status"])
                }
            }
            return try .json(payments)
        }
    }

    static func fetchAccounts(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Account] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { Account(id: $0["id"], balance: $0["balance"]) }
    }
}
