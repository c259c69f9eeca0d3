@testable import EventStore
import Foundation
import TestSupport
import Testing

/// What only the SQLite store promises: durability settings, group commit, reopening, other processes.
@Suite("SQLiteEventStore")
struct SQLiteEventStoreTests {
    let directory: TemporaryDirectory
    var path: String { "\(directory.path)/nested/events.sqlite" }

    init() throws {
        directory = try TemporaryDirectory("eventstore")
    }

    func open() throws -> SQLiteEventStore {
        try SQLiteEventStore(path: path, logger: .quiet)
    }

    @Test func commitsAreDurable() async throws {
        defer { directory.remove() }
        let store = try open()
        #expect(try await store.writerPragma("synchronous") == "2")  // FULL
        #expect(try await store.writerPragma("journal_mode") == "wal")
    }

    @Test(arguments: [
        EventMetadata(causationId: #"quote " and backslash \ and slash /"#, correlationId: "tab\tnew\nline\r\u{1}\u{1f}"),
        EventMetadata(traceparent: "ünïcödé ✓ 🚀"), EventMetadata(),
    ])
    func metadataColumnRoundTrips(_ metadata: EventMetadata) async throws {
        defer { directory.remove() }
        let column = EventMetadataColumn.encode(metadata)
        #expect(try EventMetadataColumn.decode(column) == metadata)
        #expect(try JSONSerialization.jsonObject(with: Data(column.utf8)) is [String: String])
    }

    @Test(arguments: [
        (#"{ "causationId" : "c" }"#, EventMetadata(causationId: "c")),
        (#"{"correlationId":null,"causationId":"c"}"#, EventMetadata(causationId: "c")),
        (#"{"causationId":"a\/b"}"#, EventMetadata(causationId: "a/b")),
        (#"{"correlationId":"s","other":"x"}"#, EventMetadata(correlationId: "s")),
        ("{}", EventMetadata()),
    ])
    func metadataColumnReadsWhatOtherWritersWrote(_ column: String, _ expected: EventMetadata) async throws {
        defer { directory.remove() }
        #expect(try EventMetadataColumn.decode(column) == expected)
    }

    @Test func manyConcurrentAppendsShareFewCommits() async throws {
        defer { directory.remove() }
        let store = try open()
        let appends = 256
        let before = store.commitCount
        try await withThrowingTaskGroup { group in
            for index in 0..<appends {
                group.addTask { _ = try await store.append(to: "s-\(index)", expected: .noStream, events: [.test()]) }
            }
            try await group.waitForAll()
        }
        let commits = store.commitCount - before
        #expect(commits >= 1)
        #expect(commits <= appends / 8, "\(appends) appends took \(commits) commits")
        #expect(try await store.headPosition == Int64(appends))
    }

    /// One transaction, several appends: each is checked on its own, and sees the ones before it.
    @Test func aBatchCommitsItsGoodAppendsAndRejectsItsBadOnes() async throws {
        defer { directory.remove() }
        let store = try open()
        _ = try await store.append(to: "old", expected: .noStream, events: [.test()])
        let before = store.commitCount

        let results = await store.commit([
            PendingAppend(stream: "new", expected: .noStream, events: [.test("One"), .test("Two")]),
            PendingAppend(stream: "old", expected: .exact(5), events: [.test("Bad")]),
            PendingAppend(stream: "new", expected: .exact(1), events: [.test("Three")]),
            PendingAppend(stream: "new", expected: .noStream, events: [.test("Bad")]),
            PendingAppend(stream: "old", expected: .any, events: [.test("Four")]),
        ])

        #expect(store.commitCount == before + 1)
        #expect(try results[0].get() == AppendResult(nextExpectedVersion: 1, lastPosition: 3))
        #expect(throws: EventStoreError.wrongExpectedVersion) { try results[1].get() }
        #expect(try results[2].get() == AppendResult(nextExpectedVersion: 2, lastPosition: 4))
        #expect(throws: EventStoreError.wrongExpectedVersion) { try results[3].get() }
        #expect(try results[4].get() == AppendResult(nextExpectedVersion: 1, lastPosition: 5))
        #expect(try await store.read(stream: "new").map(\.type) == ["One", "Two", "Three"])
        #expect(try await store.readAll(after: 0, limit: 10).map(\.position) == [1, 2, 3, 4, 5])
    }

    @Test func eventsSurviveReopening() async throws {
        defer { directory.remove() }
        let store = try open()
        _ = try await store.append(to: "s", expected: .noStream, events: [.test("A"), .test("B")])
        try await store.close()
        await #expect(throws: EventStoreError.storeClosed) {
            try await store.append(to: "s", expected: .any, events: [.test()])
        }
        await #expect(throws: EventStoreError.storeClosed) { try await store.read(stream: "s") }

        let reopened = try open()
        #expect(try await reopened.read(stream: "s").map(\.type) == ["A", "B"])
        #expect(try await reopened.append(to: "s", expected: .exact(1), events: [.test()]).lastPosition == 3)
    }

    @Test func closingEndsWaitingReaders() async throws {
        defer { directory.remove() }
        let store = try open()
        let waiting = Task { try await store.waitForEvents(after: 0, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        try await store.close()
        await #expect(throws: EventStoreError.storeClosed) { try await waiting.value }
    }

    /// A second store on the same file stands in for another process: it cannot wake the reader directly.
    @Test func aReaderNoticesAppendsByAnotherWriter() async throws {
        defer { directory.remove() }
        let reader = try open()
        let writer = try open()
        async let woken = reader.waitForEvents(after: 0, timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        _ = try await writer.append(to: "s", expected: .noStream, events: [.test()])
        #expect(try await woken)
        #expect(try await reader.read(stream: "s").count == 1)
    }
}
