import Foundation
import GRDB

/// Rows a participant must deliver at least once: asynchronous replies and domain events.
enum Outbox {
    enum Kind: String {
        case reply
        case event
    }

    /// Adds one row in the caller's transaction.
    static func enqueue(
        _ db: Database, kind: Kind, destination: String, orderingKey: String, body: Data, now: Date
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO outbox (kind, destination, ordering_key, body, next_attempt_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [kind.rawValue, destination, orderingKey, body, now.timeIntervalSince1970, now.timeIntervalSince1970])
    }
}

/// Counts for `GET /outbox`: how much is waiting, and what was parked because the receiver refused it.
public struct OutboxStatus: Codable, Sendable, Equatable {
    public var pending: Int
    public var parked: Int
    public var oldestPendingAttempts: Int?
    public var lastError: String?
}

extension Outbox {
    static func status(_ db: Database) throws -> OutboxStatus {
        let pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE parked = 0") ?? 0
        let parked = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE parked = 1") ?? 0
        let oldest = try Row.fetchOne(
            db, sql: "SELECT attempts, last_error FROM outbox WHERE parked = 0 ORDER BY id LIMIT 1")
        let lastError = try String.fetchOne(
            db, sql: "SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1")
        return OutboxStatus(
            pending: pending, parked: parked, oldestPendingAttempts: oldest?["attempts"], lastError: lastError)
    }
}
