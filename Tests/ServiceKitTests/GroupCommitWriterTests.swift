import GRDB
import Testing
import TestSupport

@testable import ServiceKit

@Suite struct GroupCommitWriterTests {
    struct Refused: Error {}

    @Test func concurrentWritesShareCommitsAndAFailureUndoesOnlyItsOwn() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let database = try ParticipantDatabase.open(directory: dir.path, name: "group", migrations: { migrator in
            migrator.registerMigration("t") { db in try db.execute(sql: "CREATE TABLE t (n INTEGER PRIMARY KEY)") }
        })
        let writer = GroupCommitWriter(database: database)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<200 {
                group.addTask {
                    do {
                        try await writer.write { db in
                            try db.execute(sql: "INSERT INTO t (n) VALUES (?)", arguments: [n])
                            if n % 7 == 0 { throw Refused() }  // after its insert: the savepoint must undo it
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        let expected = (0..<200).filter { $0 % 7 != 0 }
        #expect(outcomes.filter { $0 }.count == expected.count)
        let stored = try await database.read { db in try Int.fetchAll(db, sql: "SELECT n FROM t ORDER BY n") }
        #expect(stored == expected)
    }
}
