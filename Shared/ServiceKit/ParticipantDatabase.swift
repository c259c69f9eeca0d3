import Foundation
public import GRDB

/// Opens a participant's SQLite file: WAL, `synchronous=FULL` (a commit is on disk before the reply), and
/// the inbox, tombstone and outbox tables, followed by the service's own migrations.
public enum ParticipantDatabase {
    /// Opens (creating when needed) `<directory>/<name>.sqlite` and migrates it.
    public static func open(
        directory: String, name: String, migrations: @Sendable (inout DatabaseMigrator) -> Void
    ) throws -> DatabasePool {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        let pool = try DatabasePool(path: "\(directory)/\(name).sqlite", configuration: configuration)
        // GRDB sets the writer to synchronous=NORMAL when it enables WAL, after prepareDatabase: set FULL again,
        // so a commit is on disk before the reply leaves.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("servicekit-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE inbox (
                        command_id TEXT PRIMARY KEY,
                        saga_id TEXT NOT NULL,
                        step TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        type TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        reply BLOB NOT NULL,
                        received_at REAL NOT NULL
                    );
                    CREATE INDEX inbox_saga_step ON inbox(saga_id, step, kind);
                    CREATE TABLE tombstones (
                        saga_id TEXT NOT NULL,
                        step TEXT NOT NULL,
                        command_id TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (saga_id, step)
                    );
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,
                        destination TEXT NOT NULL,
                        ordering_key TEXT NOT NULL,
                        body BLOB NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        last_error TEXT,
                        parked INTEGER NOT NULL DEFAULT 0,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX outbox_due ON outbox(parked, next_attempt_at);
                    """)
        }
        migrations(&migrator)
        try migrator.migrate(pool)
        return pool
    }
}
