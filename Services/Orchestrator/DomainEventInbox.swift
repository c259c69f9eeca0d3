import EventStore
import Foundation
import GRDB
import SagaProtocol

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

    /// What `append` did with a batch.
    struct Outcome: Codable, Equatable {
        var appended: Int
        var duplicates: Int
    }

    /// Appends the events not appended before, each to its stream, and remembers their ids.
    ///
    /// The events of one stream are appended together and in order; different streams are appended concurrently,
    /// so their events share the store's group commits and their relative order in the global log is not the
    /// batch's. An id repeated within the batch counts once.
    func append(_ events: [DomainEvent], to store: any EventStore) async throws -> Outcome {
        let seen = try await self.seen(events.map(\.id))
        var fresh: [String: [DomainEvent]] = [:]
        var streams: [String] = []
        var ids: Set<String> = []
        for event in events where !seen.contains(event.id) && ids.insert(event.id).inserted {
            if fresh[event.stream] == nil { streams.append(event.stream) }
            fresh[event.stream, default: []].append(event)
        }
        let positions = try await withThrowingTaskGroup(of: [(String, Int64)].self) { group in
            for stream in streams {
                let events = fresh[stream] ?? []
                group.addTask {
                    let result = try await store.append(
                        to: stream, expected: .any,
                        events: try events.map { event in
                            NewEvent(
                                type: event.type, data: try JSONCoding.encode(event.data),
                                metadata: EventMetadata(causationId: event.causationId, correlationId: event.correlationId))
                        })
                    return events.map { ($0.id, result.lastPosition) }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        try await remember(positions)
        return Outcome(appended: positions.count, duplicates: events.count - positions.count)
    }

    /// Which of `ids` were appended before.
    private func seen(_ ids: [String]) async throws -> Set<String> {
        try await database.read { db in
            try Set(String.fetchAll(db, sql: "SELECT id FROM seen_domain_events WHERE id IN (\(databaseQuestionMarks(count: ids.count)))", arguments: StatementArguments(ids)))
        }
    }

    /// Records each event id with the position of the append that wrote it (its stream's last event in that append).
    private func remember(_ positions: [(id: String, position: Int64)]) async throws {
        guard !positions.isEmpty else { return }
        try await database.write { db in
            let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO seen_domain_events (id, position) VALUES (?, ?)")
            for (id, position) in positions { try statement.execute(arguments: [id, position]) }
        }
    }
}
