import EventStore
import Foundation
import GRDB
import SagaHTTP
import SagaProtocol

/// Which events of the global log a subscription receives: all, or those of the listed types and/or streams
/// starting with a prefix.
struct SubscriptionFilter: Codable, Sendable, Equatable {
    var types: [String]?
    var streamPrefix: String?

    func matches(_ event: RecordedEvent) -> Bool {
        (types.map { $0.contains(event.type) } ?? true) && (streamPrefix.map { event.stream.hasPrefix($0) } ?? true)
    }
}

/// A webhook subscription as stored.
struct Subscription: Codable, Sendable, Equatable {
    var name: String
    var url: String
    var filter: SubscriptionFilter
    /// Failed deliveries of one event before it is parked as a dead letter.
    var maxAttempts: Int
}

/// What `GET /subscriptions/{name}` shows.
struct SubscriptionStatus: Codable, Sendable {
    var name: String
    var url: String
    var filter: SubscriptionFilter
    var maxAttempts: Int
    /// Every event up to this global position has been delivered, parked or skipped by the filter.
    var checkpoint: Int64
    /// Events in the log after the checkpoint.
    var lag: Int64
    var delivered: Int
    var deadLetters: Int
    var lastError: String?
    var lastErrorAt: Date?
}

/// An event that failed `maxAttempts` deliveries.
struct DeadLetter: Codable, Sendable {
    var position: Int64
    var stream: String
    var type: String
    var attempts: Int
    var error: String
    var parkedAt: Date
}

/// Subscriptions, their checkpoints and dead letters in `subscriptions.sqlite` (WAL; a checkpoint moves only
/// after the delivery it covers, so a crash redelivers rather than loses).
final class SubscriptionStore: Sendable {
    let database: DatabasePool

    init(path: String) throws {
        database = try DatabasePool(path: path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("subscriptions-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE subscriptions (
                        name TEXT PRIMARY KEY, url TEXT NOT NULL, filter BLOB NOT NULL, max_attempts INTEGER NOT NULL,
                        checkpoint INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT, last_error_at REAL, created_at REAL NOT NULL);
                    CREATE TABLE dead_letters (
                        name TEXT NOT NULL REFERENCES subscriptions(name) ON DELETE CASCADE, position INTEGER NOT NULL,
                        stream TEXT NOT NULL, type TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
                        parked_at REAL NOT NULL, PRIMARY KEY (name, position));
                    """)
        }
        migrator.registerMigration("callbacks-v1") { db in
            try db.execute(sql: "CREATE TABLE saga_callbacks (saga_id TEXT PRIMARY KEY, url TEXT NOT NULL)")
        }
        try migrator.migrate(database)
    }

    /// Remembers where to call when saga `sagaId` ends (the first URL given for a saga wins).
    func setCallback(sagaId: String, url: String) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO saga_callbacks (saga_id, url) VALUES (?, ?)", arguments: [sagaId, url])
        }
    }

    func callback(sagaId: String) async throws -> String? {
        try await database.read { db in try String.fetchOne(db, sql: "SELECT url FROM saga_callbacks WHERE saga_id = ?", arguments: [sagaId]) }
    }

    /// Adds `subscription` starting after `position`; false when the name is taken.
    func create(_ subscription: Subscription, after position: Int64) async throws -> Bool {
        try await database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM subscriptions WHERE name = ?", arguments: [subscription.name]) == nil
            else { return false }
            try db.execute(
                sql: "INSERT INTO subscriptions (name, url, filter, max_attempts, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    subscription.name, subscription.url, try JSONCoding.encode(subscription.filter), subscription.maxAttempts, position,
                    Date().timeIntervalSince1970,
                ])
            return true
        }
    }

    /// Removes the subscription and its dead letters; false when there was none.
    func delete(_ name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM dead_letters WHERE name = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM subscriptions WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    func all() async throws -> [(subscription: Subscription, checkpoint: Int64)] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subscriptions ORDER BY name").map { row in
                (try Self.subscription(row), row["checkpoint"])
            }
        }
    }

    func status(_ name: String, head: Int64) async throws -> SubscriptionStatus? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM subscriptions WHERE name = ?", arguments: [name]) else { return nil }
            let subscription = try Self.subscription(row)
            let checkpoint: Int64 = row["checkpoint"]
            let parked = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters WHERE name = ?", arguments: [name]) ?? 0
            return SubscriptionStatus(
                name: name, url: subscription.url, filter: subscription.filter, maxAttempts: subscription.maxAttempts,
                checkpoint: checkpoint, lag: max(0, head - checkpoint), delivered: row["delivered"], deadLetters: parked,
                lastError: row["last_error"], lastErrorAt: (row["last_error_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
        }
    }

    /// Moves the checkpoint forward (never back), counting `delivered` more deliveries.
    func advance(_ name: String, to position: Int64, delivered: Int) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET checkpoint = MAX(checkpoint, ?), delivered = delivered + ? WHERE name = ?",
                arguments: [position, delivered, name])
        }
    }

    func recordError(_ name: String, _ error: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE subscriptions SET last_error = ?, last_error_at = ? WHERE name = ?",
                arguments: [error, Date().timeIntervalSince1970, name])
        }
    }

    /// Parks `event` for `name` and moves the checkpoint past it, in one transaction.
    func park(_ name: String, _ event: RecordedEvent, attempts: Int, error: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO dead_letters (name, position, stream, type, attempts, error, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [name, event.position, event.stream, event.type, attempts, error, Date().timeIntervalSince1970])
            try db.execute(
                sql: "UPDATE subscriptions SET checkpoint = MAX(checkpoint, ?) WHERE name = ?", arguments: [event.position, name])
        }
    }

    func deadLetters(_ name: String) async throws -> [DeadLetter] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dead_letters WHERE name = ? ORDER BY position", arguments: [name]).map { row in
                DeadLetter(
                    position: row["position"], stream: row["stream"], type: row["type"], attempts: row["attempts"], error: row["error"],
                    parkedAt: Date(timeIntervalSince1970: row["parked_at"]))
            }
        }
    }

    /// Removes a dead letter once its replay was delivered; false when there was none.
    func removeDeadLetter(_ name: String, position: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM dead_letters WHERE name = ? AND position = ?", arguments: [name, position])
            let removed = db.changesCount
            try db.execute(sql: "UPDATE subscriptions SET delivered = delivered + ? WHERE name = ?", arguments: [removed, name])
            return removed > 0
        }
    }

    private static func subscription(_ row: Row) throws -> Subscription {
        Subscription(
            name: row["name"], url: row["url"], filter: try JSONCoding.decode(SubscriptionFilter.self, from: row["filter"] as Data),
            maxAttempts: row["max_attempts"])
    }
}
