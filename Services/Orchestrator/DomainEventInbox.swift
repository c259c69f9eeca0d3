import GRDB

/// Domain event ids already appended to the log, so a participant's outbox redelivery appends once.
/// Kept apart from the views, which can be deleted and rebuilt.
final class DomainEventInbox: Sendable {
    let database: DatabasePool

    init(path: String) throws {
        database = try DatabasePool(path: path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("inbox-v1") { db in
            try db.execute(sql: "CREATE TABLE seen_domain_events (id TEXT PRIMARY KEY, position INTEGER NOT NULL)")
        }
        try migrator.migrate(database)
    }

    /// Whether event `id` has not been appended yet.
    func isNew(_ id: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM seen_domain_events WHERE id = ?"), arguments: [id]) == nil
        }
    }

    /// Records event `id` as appended at `position`.
    func remember(_ id: String, position: Int64) async throws {
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO seen_domain_events (id, position) VALUES (?, ?)").execute(arguments: [id, position])
        }
    }
}
