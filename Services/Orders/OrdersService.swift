import Foundation
import GRDB
import SagaHTTP
import SagaProtocol
public import ServiceKit

/// The orders participant: orders go `pending → approved | cancelled`.
public enum OrdersService {
    /// The participant definition the `orders` executable runs.
    public static var definition: ParticipantDefinition {
        var handlers = CommandHandlers()
        handlers.action("CreateOrder", create)
        handlers.compensation("CancelOrder", cancel)
        handlers.action("ApproveOrder", approve)
        return ParticipantDefinition(name: "orders", defaultPort: 8081, migrations: migrate, handlers: handlers, routes: routes)
    }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("orders-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE orders (
                        id TEXT PRIMARY KEY,
                        customer_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        seats INTEGER NOT NULL,
                        amount INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        saga_id TEXT NOT NULL
                    );
                    CREATE INDEX orders_status ON orders(status);
                    CREATE INDEX orders_saga ON orders(saga_id);
                    """)
        }
    }

    /// An order as `GET /orders` shows it.
    public struct Order: Codable, Sendable, Equatable {
        public var id: String
        public var customerId: String
        public var eventId: String
        public var seats: Int
        public var amount: Int
        public var status: String
    }

    struct Create: Decodable {
        var orderId: String?
        var customerId: String
        var eventId: String
        var seats: Int
        var amount: Int
    }

    static func create(_ context: CommandContext) throws -> CommandResult {
        let input = try context.payload(Create.self)
        guard input.seats > 0 else { return .failed(code: "invalid_seats", "seats must be positive, got \(input.seats)") }
        guard input.amount >= 0 else { return .failed(code: "invalid_amount", "amount must not be negative") }
        let id = input.orderId ?? "o-\(TimeOrderedUUID.make())"
        if let owner = try String.fetchOne(context.db, sql: "SELECT saga_id FROM orders WHERE id = ?", arguments: [id]),
            owner != context.command.sagaId
        {
            return .failed(code: "duplicate_order", "order '\(id)' belongs to another saga")
        }
        try context.db.execute(
            sql: "INSERT INTO orders (id, customer_id, event_id, seats, amount, status, saga_id) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            arguments: [id, input.customerId, input.eventId, input.seats, input.amount, context.command.sagaId])
        let order = Order(id: id, customerId: input.customerId, eventId: input.eventId, seats: input.seats, amount: input.amount, status: "pending")
        try context.publish("OrderCreated", stream: "order-\(id)", data: order)
        return try .succeeded(["orderId": id])
    }

    static func cancel(_ context: CommandContext) throws -> CommandResult {
        try transition(context, from: "pending", to: "cancelled", event: "OrderCancelled")
        return .succeeded(.emptyObject)
    }

    static func approve(_ context: CommandContext) throws -> CommandResult {
        let status = try String.fetchOne(
            context.db, sql: "SELECT status FROM orders WHERE saga_id = ?", arguments: [context.command.sagaId])
        switch status {
        case nil: return .failed(code: "unknown_order", "no order for saga '\(context.command.sagaId)'")
        case "cancelled": return .failed(code: "order_cancelled", "the order was cancelled")
        default:
            try transition(context, from: "pending", to: "approved", event: "OrderApproved")
            return .succeeded(.emptyObject)
        }
    }

    static func transition(_ context: CommandContext, from: String, to: String, event: String) throws {
        let ids = try String.fetchAll(
            context.db, sql: "SELECT id FROM orders WHERE saga_id = ? AND status = ?", arguments: [context.command.sagaId, from])
        for id in ids {
            try context.db.execute(sql: "UPDATE orders SET status = ? WHERE id = ?", arguments: [to, id])
            try context.publish(event, stream: "order-\(id)", data: ["orderId": id, "status": to])
        }
    }

    static let columns = "id, customer_id, event_id, seats, amount, status"

    static func decodeOrder(_ row: Row) -> Order {
        Order(
            id: row["id"], customerId: row["customer_id"], eventId: row["event_id"], seats: row["seats"], amount: row["amount"],
            status: row["status"])
    }

    static func routes(_ router: inout Router, _ database: DatabasePool) {
        router.get("/orders/{id}") { request in
            let id = request.parameter("id")
            let order = try await database.read { db in
                try Row.fetchOne(db, sql: "SELECT \(columns) FROM orders WHERE id = ?", arguments: [id]).map(decodeOrder)
            }
            guard let order else { throw Problem.notFound("no order '\(id)'") }
            return try .json(order)
        }
        router.get("/orders") { request in
            let status = request.query["status"]
            let orders = try await database.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT \(columns) FROM orders WHERE (?1 IS NULL OR status = ?1) ORDER BY rowid LIMIT 10000",
                    arguments: [status]
                ).map(decodeOrder)
            }
            return try .json(orders)
        }
    }
}
