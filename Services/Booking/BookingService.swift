import Foundation
import GRDB
import SagaHTTP
import SagaProtocol
public import ServiceKit

/// The booking participant: seats per event, reserved by `ReserveSeats`, given back once by `ReleaseSeats`.
public enum BookingService {
    /// Demo events when `booking.events` is not set.
    public static let defaultEvents = "concert=100000,club=10"

    /// The participant definition the `booking` executable runs.
    public static var definition: ParticipantDefinition {
        var handlers = CommandHandlers()
        handlers.action("ReserveSeats", reserve)
        handlers.compensation("ReleaseSeats", release)
        return ParticipantDefinition(
            name: "booking", defaultPort: 8083, migrations: migrate,
            seed: { db, settings in
                for (id, capacity) in try settings.amounts(forKey: "booking.events", default: defaultEvents) {
                    try db.execute(
                        sql: "INSERT OR IGNORE INTO inventory (event_id, capacity, reserved) VALUES (?, ?, 0)",
                        arguments: [id, capacity])
                }
            },
            handlers: handlers, routes: routes,
            helpRows: [("--booking-events LIST", "BOOKING_EVENTS", "demo events, id=capacity,… (default \(defaultEvents))")])
    }

    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("booking-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE inventory (
                        event_id TEXT PRIMARY KEY,
                        capacity INTEGER NOT NULL,
                        reserved INTEGER NOT NULL,
                        CHECK (reserved >= 0 AND reserved <= capacity)
                    );
                    CREATE TABLE reservations (
                        id TEXT PRIMARY KEY,
                        order_id TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        seats INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        saga_id TEXT NOT NULL
                    );
                    CREATE INDEX reservations_order ON reservations(order_id);
                    CREATE INDEX reservations_saga ON reservations(saga_id);
                    """)
        }
    }

    /// An event's seats as `GET /inventory` shows them.
    public struct Inventory: Codable, Sendable, Equatable {
        public var eventId: String
        public var capacity: Int
        public var reserved: Int
    }

    /// A reservation as `GET /reservations` shows it.
    public struct Reservation: Codable, Sendable, Equatable {
        public var id: String
        public var orderId: String
        public var eventId: String
        public var seats: Int
        public var status: String
    }

    struct Reserve: Decodable {
        var orderId: String
        var eventId: String
        var seats: Int
    }

    static func reserve(_ context: CommandContext) throws -> CommandResult {
        let input = try context.payload(Reserve.self)
        guard input.seats > 0 else { return .failed(code: "invalid_seats", "seats must be positive, got \(input.seats)") }
        guard let row = try Row.fetchOne(
            context.db, sql: "SELECT capacity, reserved FROM inventory WHERE event_id = ?", arguments: [input.eventId])
        else { return .failed(code: "unknown_event", "no event '\(input.eventId)'") }
        let capacity: Int = row["capacity"]
        let reserved: Int = row["reserved"]
        guard reserved + input.seats <= capacity else {
            return .failed(code: "sold_out", "\(capacity - reserved) seats left, \(input.seats) asked")
        }
        let id = "r-\(TimeOrderedUUID.make())"
        try context.db.execute(
            sql: "UPDATE inventory SET reserved = reserved + ? WHERE event_id = ?", arguments: [input.seats, input.eventId])
        try context.db.execute(
            sql: "INSERT INTO reservations (id, order_id, event_id, seats, status, saga_id) VALUES (?, ?, ?, ?, 'reserved', ?)",
            arguments: [id, input.orderId, input.eventId, input.seats, context.command.sagaId])
        let reservation = Reservation(id: id, orderId: input.orderId, eventId: input.eventId, seats: input.seats, status: "reserved")
        try context.publish("SeatsReserved", stream: "reservation-\(id)", data: reservation)
        return try .succeeded(["reservationId": id])
    }

    static func release(_ context: CommandContext) throws -> CommandResult {
        let rows = try Row.fetchAll(
            context.db, sql: "SELECT \(reservationColumns) FROM reservations WHERE saga_id = ? AND status = 'reserved'",
            arguments: [context.command.sagaId])
        for row in rows {
            var released = reservation(row)
            released.status = "released"
            try context.db.execute(
                sql: "UPDATE inventory SET reserved = reserved - ? WHERE event_id = ?", arguments: [released.seats, released.eventId])
            try context.db.execute(sql: "UPDATE reservations SET status = 'released' WHERE id = ?", arguments: [released.id])
            try context.publish("SeatsReleased", stream: "reservation-\(released.id)", data: released)
        }
        return try .succeeded(["released": rows.count])
    }

    static let reservationColumns = "id, order_id, event_id, seats, status"

    static func reservation(_ row: Row) -> Reservation {
        Reservation(id: row["id"], orderId: row["order_id"], eventId: row["event_id"], seats: row["seats"], status: row["status"])
    }

    static func inventory(_ row: Row) -> Inventory {
        Inventory(eventId: row["event_id"], capacity: row["capacity"], reserved: row["reserved"])
    }

    static func routes(_ router: inout Router, _ database: DatabasePool) {
        router.get("/inventory") { _ in
            try .json(try await database.read { db in
                try Row.fetchAll(db, sql: "SELECT event_id, capacity, reserved FROM inventory ORDER BY event_id").map(inventory)
            })
        }
        router.get("/inventory/{eventId}") { request in
            let id = request.parameter("eventId")
            let found = try await database.read { db in
                try Row.fetchOne(db, sql: "SELECT event_id, capacity, reserved FROM inventory WHERE event_id = ?", arguments: [id])
                    .map(inventory)
            }
            guard let found else { throw Problem.notFound("no event '\(id)'") }
            return try .json(found)
        }
        router.get("/reservations") { request in
            let orderId = request.query["orderId"]
            let reservations = try await database.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT \(reservationColumns) FROM reservations WHERE (?1 IS NULL OR order_id = ?1) ORDER BY rowid LIMIT 10000",
                    arguments: [orderId]
                ).map(reservation)
            }
            return try .json(reservations)
        }
    }
}
