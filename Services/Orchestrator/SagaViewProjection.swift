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
    /// The executor's appended events, taken decoded instead of decoding the log's copy; nil to always decode.
    let appendedEvents: AppendedEvents?
    let logger: Logger
    let checkpoint = Atomic<Int64>(0)
    /// Views of the sagas not yet ended, as last written (the stored JSON need not be decoded again).
    private let running = Mutex<[String: Stored]>([:])
    /// The rows of `view_definitions` read or written so far, by hash.
    private let definitions = Mutex<[String: SagaDefinition]>([:])
    /// Wakes the projection during its pause between batches when a reader waits for it (`catchUp`).
    private let readerWaiting = Wakeup()

    /// The pause after a batch that did not fill `batchSize`, to let more events of the same sagas arrive: a
    /// saga's row is then encoded and written once for several of its events rather than once for each. A reader
    /// that needs the view current cuts the pause short, so only the lag seen by nobody grows.
    static let batchPause = Duration.milliseconds(100)
    /// Most events one transaction applies.
    static let batchSize = 512

    /// A saga's state and the hash of its definition. The row keeps the state without its definition (most of
    /// its bytes, and the same for every saga of a type): the definition is stored once, in `view_definitions`.
    struct Stored: Sendable {
        var state: SagaState
        var definitionHash: String
    }

    init(directory: String, store: any EventStore, appendedEvents: AppendedEvents? = nil, logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try DatabasePool(path: "\(directory)/views.sqlite")
        self.store = store
        self.appendedEvents = appendedEvents
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
        migrator.registerMigration("views-v2") { db in
            // Step statistics, and states stored without their definitions (once each in view_definitions):
            // rebuild everything from the log.
            try StepStats.migrate(db)
            try db.execute(
                sql: """
                    CREATE TABLE view_definitions (hash TEXT PRIMARY KEY, definition BLOB NOT NULL);
                    ALTER TABLE saga_view ADD COLUMN definition_hash TEXT NOT NULL DEFAULT '';
                    DELETE FROM saga_view; DELETE FROM checkpoints
                    """)
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
                let events = try await self.store.readAll(after: position, limit: Self.batchSize)
                guard let last = events.last else {
                    _ = try await self.store.waitForEvents(after: position, timeout: .seconds(1))
                    continue
                }
                try await self.apply(events)
                position = last.position
                if events.count < Self.batchSize { await self.readerWaiting.wait(timeout: Self.batchPause) }
            }
        }
    }

    /// Applies consecutive events of the global log in one transaction: the view changes of each (a saga's row is
    /// written once, with its state after the batch) and the checkpoint after the last.
    func apply(_ events: [RecordedEvent]) async throws {
        guard let last = events.last else { return }
        let decoded = try events.map { event in
            guard event.stream.hasPrefix("saga-") else { return (event: event, saga: SagaEvent?.none) }
            let taken = appendedEvents?.take(stream: event.stream, version: event.version, type: event.type)
            return (event: event, saga: try taken ?? SagaEvent(type: event.type, data: event.data))
        }
        let cached = running.withLock { $0 }
        let (touched, started) = try await database.write { db -> ([String: Stored], [String: SagaDefinition]) in
            var touched: [String: (stored: Stored, first: RecordedEvent, last: RecordedEvent)] = [:]
            var started: [String: SagaDefinition] = [:]
            for (event, sagaEvent) in decoded {
                guard let sagaEvent else { continue }
                let sagaId = String(event.stream.dropFirst("saga-".count))
                let previous = try touched[sagaId]?.stored ?? cached[sagaId] ?? self.stored(sagaId, db)
                var hash = previous?.definitionHash ?? ""
                if case .sagaStarted(let event) = sagaEvent {
                    hash = event.definitionHash
                    if started[hash] == nil, self.definitions.withLock({ $0[hash] == nil }) {
                        try db.cachedStatement(sql: "INSERT OR IGNORE INTO view_definitions (hash, definition) VALUES (?, ?)")
                            .execute(arguments: [hash, try JSONCoding.encode(event.definition)])
                        started[hash] = event.definition
                    }
                }
                try StepStats.record(sagaEvent, previous: previous?.state, recordedAt: event.recordedAt, db: db)
                let state = SagaDecider.evolve(previous?.state, sagaEvent)
                touched[sagaId] = (Stored(state: state, definitionHash: hash), touched[sagaId]?.first ?? event, event)
            }
            for (sagaId, change) in touched {
                var bare = change.stored.state
                bare.definition = SagaDefinition(name: bare.definition.name, version: bare.definition.version, steps: [])
                try db.cachedStatement(
                    sql: """
                        INSERT INTO saga_view (id, seq, type, status, state, created_at, updated_at, definition_hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at = excluded.updated_at,
                            definition_hash = excluded.definition_hash
                        """
                ).execute(
                    arguments: [
                        sagaId, change.first.position, bare.sagaType, bare.status.rawValue, try JSONCoding.encode(bare),
                        change.first.recordedAt.timeIntervalSince1970, change.last.recordedAt.timeIntervalSince1970,
                        change.stored.definitionHash,
                    ])
            }
            try db.cachedStatement(
                sql: "INSERT INTO checkpoints (name, position) VALUES ('saga_view', ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position"
            ).execute(arguments: [last.position])
            return (touched.mapValues(\.stored), started)
        }
        // Only once committed: the states of sagas still running, so the next batch need not decode them.
        definitions.withLock { $0.merge(started) { old, _ in old } }
        running.withLock { running in
            for (sagaId, stored) in touched {
                if stored.state.status.isTerminal { running.removeValue(forKey: sagaId) } else { running[sagaId] = stored }
            }
        }
        checkpoint.store(last.position, ordering: .releasing)
    }

    /// Waits until the view includes every event up to `position` (bounded by `timeout`).
    func catchUp(to position: Int64, timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while checkpoint.load(ordering: .acquiring) < position, ContinuousClock.now < deadline {
            readerWaiting.notify()
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
            try Row.fetchOne(db, sql: "SELECT state, definition_hash, created_at, updated_at FROM saga_view WHERE id = ?", arguments: [id])
                .map { try self.view($0, db) }
        }
    }

    /// A page of sagas, oldest first, after cursor `after`.
    func list(status: String?, type: String?, limit: Int, after: Int64) async throws -> (views: [SagaView], next: Int64?) {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, state, definition_hash, created_at, updated_at FROM saga_view
                    WHERE seq > ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR type = ?3) ORDER BY seq LIMIT ?4
                    """,
                arguments: [after, status, type, limit])
            let views = try rows.map { try self.view($0, db) }
            return (views, rows.count == limit ? rows.last?["seq"] : nil)
        }
    }

    func view(_ row: Row, _ db: Database) throws -> SagaView {
        SagaView(
            try restore(row, db).state, createdAt: Date(timeIntervalSince1970: row["created_at"]),
            updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    /// The stored state of saga `id`, nil when the view has none.
    private func stored(_ id: String, _ db: Database) throws -> Stored? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT state, definition_hash FROM saga_view WHERE id = ?"), arguments: [id])
            .map { try restore($0, db) }
    }

    /// A row's state with its definition put back (a history without `SagaStarted` has none to put back).
    private func restore(_ row: Row, _ db: Database) throws -> Stored {
        var stored = Stored(state: try JSONCoding.decode(SagaState.self, from: row["state"] as Data), definitionHash: row["definition_hash"])
        if let definition = try definition(stored.definitionHash, db) { stored.state.definition = definition }
        return stored
    }

    private func definition(_ hash: String, _ db: Database) throws -> SagaDefinition? {
        if let known = definitions.withLock({ $0[hash] }) { return known }
        guard let data = try Data.fetchOne(db, sql: "SELECT definition FROM view_definitions WHERE hash = ?", arguments: [hash]) else {
            return nil
        }
        let definition = try JSONCoding.decode(SagaDefinition.self, from: data)
        definitions.withLock { $0[hash] = definition }
        return definition
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
