public import Foundation
import GRDB
public import Logging
import SagaProtocol
import Synchronization

/// An event store in one SQLite file, in WAL mode with `synchronous=FULL`: an append returns only once it is
/// on disk. Concurrent appends are group-committed: those that arrive together share one transaction and one
/// fsync, each checked against its own expected version in its own savepoint, each succeeding or failing alone.
///
/// Other processes may append to the same file; `waitForEvents` notices their appends within a poll interval.
public final class SQLiteEventStore: EventStore {
    let pool: DatabasePool
    let logger: Logger
    let now: @Sendable () -> Date
    let waiters: PositionWaiters
    let appendQueue = Mutex(AppendQueue())
    let commits = Atomic<Int>(0)

    /// WAL pages after which a commit copies them back into the database file.
    static let walCheckpointPages = 10_000

    /// How long `waitForEvents` waits on in-process appends before looking at the file for other processes' appends.
    static let externalPollInterval = Duration.milliseconds(250)

    /// Opens the store at `path`, creating the directory, the file and the schema when needed.
    /// `now` stamps `recordedAt`.
    public init(path: String, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) throws {
        var configuration = Configuration()
        configuration.label = "EventStore"
        configuration.busyMode = .timeout(10)
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
            // Not in `prepareDatabase`: DatabasePool sets the writer to `synchronous=NORMAL` when it enables WAL,
            // after that runs. NORMAL can lose the last commits on power loss; FULL fsyncs the WAL on every commit.
            // The writer connection lives as long as the pool, so this holds for every append.
            // A checkpoint every `walCheckpointPages` rather than SQLite's 1,000: the hot pages (each busy stream's
            // index leaf, the log's last page) are then copied back once per many commits, not once per few
            // (256 appenders: 48k → 55-61k appends/s); the WAL, 40 MB at most, is then reused in place.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = \(Self.walCheckpointPages)")
            }
            try Self.migrator.migrate(pool)
            let head = try pool.read(Self.fetchHead)
            waiters = PositionWaiters(head: head)
            logger.info("event store opened", metadata: ["store.path": "\(path)", "store.head": "\(head)"])
        } catch {
            logger.error("event store failed to open", metadata: ["store.path": "\(path)", "error": "\(error)"])
            throw EventStoreError.io(error)
        }
        self.logger = logger
        self.now = now
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("eventstore-v1") { db in
            // AUTOINCREMENT: a position is never reused, even after the newest event's transaction rolls back.
            // UNIQUE(stream, version) is the backstop against two events claiming one version.
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        position INTEGER PRIMARY KEY AUTOINCREMENT,
                        stream TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        data BLOB NOT NULL,
                        metadata TEXT NOT NULL,
                        recorded_at REAL NOT NULL,
                        UNIQUE (stream, version)
                    )
                    """)
        }
        return migrator
    }

    /// How many write transactions appends have committed since the store opened; thanks to group commit,
    /// usually far fewer than appends under load. For metrics and tests.
    public var commitCount: Int { commits.load(ordering: .relaxed) }

    /// Stops accepting appends, waits for those already accepted to commit, ends every `waitForEvents` with
    /// `EventStoreError.storeClosed`, and closes the file. Later calls throw `.storeClosed`.
    public func close() async throws {
        await closeAppends()
        waiters.close()
        do {
            try pool.close()
        } catch {
            throw EventStoreError.io(error)
        }
        logger.info("event store closed", metadata: ["store.path": "\(pool.path)"])
    }

    public func read(stream: String, from version: Int64) async throws -> [RecordedEvent] {
        try await reading { db in
            try Array(
                Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT * FROM events WHERE stream = ? AND version >= ? ORDER BY version"),
                    arguments: [stream, version]
                ).map(Self.recordedEvent))
        }
    }

    public func readAll(after position: Int64, limit: Int) async throws -> [RecordedEvent] {
        guard limit > 0 else { return [] }
        return try await reading { db in
            try Array(
                Row.fetchCursor(
                    db.cachedStatement(sql: "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?"),
                    arguments: [position, limit]
                ).map(Self.recordedEvent))
        }
    }

    public func streamVersion(_ stream: String) async throws -> Int64? {
        try await reading { db in try Self.fetchVersion(of: stream, db) }
    }

    public var headPosition: Int64 {
        get async throws { try await reading(Self.fetchHead) }
    }

    public func streams(withPrefix prefix: String) async throws -> [String] {
        try await reading { db in
            // The streams with a given prefix are contiguous in the (stream, version) index, starting at the prefix.
            let cursor = try String.fetchCursor(
                db, sql: "SELECT DISTINCT stream FROM events WHERE stream >= ? ORDER BY stream", arguments: [prefix])
            var names: [String] = []
            while let name = try cursor.next(), name.utf8.starts(with: prefix.utf8) { names.append(name) }
            return names
        }
    }

    public func waitForEvents(after position: Int64, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let slice = min(deadline - .now, Self.externalPollInterval)
            if try await waiters.wait(after: position, timeout: slice) { return true }
            if Task.isCancelled { return false }
            // Another process's append cannot wake us: look at the file.
            let head = try await headPosition
            if head > position {
                waiters.advance(to: head)
                return true
            }
            if ContinuousClock.now >= deadline { return false }
        }
    }

    /// Runs a read on a reader connection, mapping database failures to `EventStoreError`.
    private func reading<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        if appendQueue.withLock({ $0.closed }) { throw EventStoreError.storeClosed }
        do {
            return try await pool.read(body)
        } catch let error as CancellationError {
            throw error
        } catch {
            logger.error("event store read failed", metadata: ["store.path": "\(pool.path)", "error": "\(error)"])
            throw EventStoreError.io(error)
        }
    }

    /// A PRAGMA's value as the writer connection sees it, for tests (`synchronous`, `journal_mode`, `integrity_check`).
    func writerPragma(_ name: String) async throws -> String? {
        try await pool.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    static func fetchHead(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(position) FROM events")) ?? 0
    }

    static func fetchVersion(of stream: String, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(version) FROM events WHERE stream = ?"), arguments: [stream])
    }

    private static func recordedEvent(_ row: Row) throws -> RecordedEvent {
        let metadata: String = row["metadata"]
        return RecordedEvent(
            position: row["position"], stream: row["stream"], version: row["version"], type: row["type"],
            data: row["data"], metadata: try EventMetadataColumn.decode(metadata),
            recordedAt: Date(timeIntervalSince1970: row["recorded_at"]))
    }
}
