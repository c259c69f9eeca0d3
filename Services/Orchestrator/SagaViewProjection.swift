import EventStore
import Foundation
import GRDB
import Logging
import SagaEngine
import SagaProtocol
import ServiceLifecycle
import Synchronization

/// Keeps the `saga_view` table up to date from the global log: each event's view change and the checkpoint
/// commit together, so the view is exactly the fold of the log up to the checkpoint. Deleting `views.sqlite`
/// rebuilds it from position 0 on the next start.
final class SagaViewProjection: Service, Sendable {
    let database: DatabasePool
    let store: any EventStore
    let logger: Logger
    let checkpoint = Atomic<Int64>(0)
    /// Views of the sagas not yet ended, as last written (the stored JSON need not be decoded again).
    private let running = Mutex<[String: SagaState]>([:])

    init(directory: String, store: any EventStore, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try DatabasePool(path: "\(directory)/views.sqlite")
        self.store = store
        self.logger = logger
        var migrator = DatabaseMigrator()
        migrator.registerMigration("views-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE saga_view (
                        id TEXT PRIMARY KEY,
                        seq INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        status TEXT NOT NULL,
                        state BLOB NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX saga_view_seq ON saga_view(seq);
                    CREATE INDEX saga_view_status ON saga_view(status, seq);
                    CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
                    """)
        }
        migrator.registerMigration("views-v2-rebuild") { db in
            // The stored state gained a field: rebuild the view from the log.
            try db.execute(sql: "DELETE FROM saga_view; DELETE FROM checkpoints")
        }
        migrator.registerMigration("views-v3-step-stats") { db in
            // A new table: fill it from the log with the rest.
            try StepStats.migrate(db)
            try db.execute(sql: "DELETE FROM saga_view; DELETE FROM checkpoints")
        }
        try migrator.migrate(database)
        let position = try database.read { db in
            try Int64.fetchOne(db, sql: "SELECT position FROM checkpoints WHERE name = 'saga_view'") ?? 0
        }
        checkpoint.store(position, ordering: .relaxed)
    }

    /// Follows the log until shutdown, a batch of events per transaction.
    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var position = self.checkpoint.load(ordering: .relaxed)
            while !Task.isCancelled {
                let events = try await self.store.readAll(after: position, limit: 512)
                guard let last = events.last else {
                    _ = try await self.store.waitForEvents(after: position, timeout: .seconds(1))
                    continue
                }
                try await self.apply(events)
                position = last.position
            }
        }
    }

    /// Applies consecutive events of the global log in one transaction: the view changes of each (a saga's row is
    /// written once, with its state after the batch) and the checkpoint after the last.
    func apply(_ events: [RecordedEvent]) async throws {
        guard let last = events.last else { return }
        let decoded = try events.map { event in
            (event: event, saga: event.stream.hasPrefix("saga-") ? try SagaEvent(type: event.type, data: event.data) : nil)
        }
        let cached = running.withLock { $0 }
        let touched = try await database.write { db -> [String: SagaState] in
            var touched: [String: (state: SagaState, first: RecordedEvent, last: RecordedEvent)] = [:]
            for (event, sagaEvent) in decoded {
                guard let sagaEvent else { continue }
                let sagaId = String(event.stream.dropFirst("saga-".count))
                let previous = try touched[sagaId]?.state ?? cached[sagaId] ?? Row.fetchOne(
                    db.cachedStatement(sql: "SELECT state FROM saga_view WHERE id = ?"), arguments: [sagaId]
                ).map { try JSONCoding.decode(SagaState.self, from: $0["state"] as Data) }
                try StepStats.record(sagaEvent, previous: previous, recordedAt: event.recordedAt, db: db)
                touched[sagaId] = (SagaDecider.evolve(previous, sagaEvent), touched[sagaId]?.first ?? event, event)
            }
            for (sagaId, change) in touched {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO saga_view (id, seq, type, status, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at
                        """
                ).execute(
                    arguments: [
                        sagaId, change.first.position, change.state.sagaType, change.state.status.rawValue, try JSONCoding.encode(change.state),
                        change.first.recordedAt.timeIntervalSince1970, change.last.recordedAt.timeIntervalSince1970,
                    ])
            }
            try db.cachedStatement(
                sql: "INSERT INTO checkpoints (name, position) VALUES ('saga_view', ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position"
            ).execute(arguments: [last.position])
            return touched.mapValues(\.state)
        }
        // Only once committed: the states of sagas still running, so the next batch need not decode them.
        running.withLock { running in
            for (sagaId, state) in touched {
                if state.status.isTerminal { running.removeValue(forKey: sagaId) } else { running[sagaId] = state }
            }
        }
        checkpoint.store(last.position, ordering: .releasing)
    }

    /// Waits until the view includes every event up to `position` (bounded by `timeout`).
    func catchUp(to position: Int64, timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while checkpoint.load(ordering: .acquiring) < position, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The step statistics, with how far the projection is behind `head`.
    func stats(head: Int64) async throws -> StatsView {
        let rows = try await database.read { db in try StepStats.all(db) }
        let position = checkpoint.load(ordering: .acquiring)
        return StatsView(checkpoint: position, lag: max(0, head - position), steps: rows)
    }

    /// The view of saga `id`, nil when the view has no such saga.
    func view(_ id: String) async throws -> SagaView? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT state, created_at, updated_at FROM saga_view WHERE id = ?", arguments: [id])
                .map(Self.view)
        }
    }

    /// A page of sagas, oldest first, after cursor `after`.
    func list(status: String?, type: String?, limit: Int, after: Int64) async throws -> (views: [SagaView], next: Int64?) {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, state, created_at, updated_at FROM saga_view
                    WHERE seq > ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR type = ?3) ORDER BY seq LIMIT ?4
                    """,
                arguments: [after, status, type, limit])
            let views = try rows.map(Self.view)
            return (views, rows.count == limit ? rows.last?["seq"] : nil)
        }
    }

    static func view(_ row: Row) throws -> SagaView {
        let state = try JSONCoding.decode(SagaState.self, from: row["state"] as Data)
        return SagaView(
            state, createdAt: Date(timeIntervalSince1970: row["created_at"]), updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }
}

/// `GET /stats`.
struct StatsView: Codable {
    /// The global position the views include.
    var checkpoint: Int64
    /// Events appended but not yet in the views.
    var lag: Int64
    var steps: [StepStats.Row]
}
