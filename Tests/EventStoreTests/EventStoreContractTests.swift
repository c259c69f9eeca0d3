import EventStore
import Foundation
import Testing

/// The behaviour every `EventStore` must have, run against each implementation.
@Suite("EventStore contract")
struct EventStoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func appendsAreReadBackInOrder(kind: StoreKind) async throws {
        let recordedAt = Date(timeIntervalSince1970: 1_700_000_000)
        let made = try kind.make(now: { recordedAt })
        defer { made.remove() }
        let store = made.store
        let metadata = EventMetadata(causationId: "c-1", correlationId: "s-1", traceparent: "00-abc-def-01")
        let events = [
            NewEvent(type: "A", data: Data(#"{"n":1}"#.utf8), metadata: metadata),
            NewEvent(type: "B", data: Data()),
            NewEvent(type: "C", data: Data([0, 255, 7])),
        ]

        let first = try await store.append(to: "saga-1", expected: .noStream, events: events)
        let second = try await store.append(to: "other", expected: .any, events: [.test()])

        #expect(first == AppendResult(nextExpectedVersion: 2, lastPosition: 3))
        #expect(second == AppendResult(nextExpectedVersion: 0, lastPosition: 4))
        let read = try await store.read(stream: "saga-1")
        #expect(read.map(\.version) == [0, 1, 2])
        #expect(read.map(\.position) == [1, 2, 3])
        #expect(read.map(\.type) == ["A", "B", "C"])
        #expect(read.map(\.data) == events.map(\.data))
        #expect(read.map(\.metadata) == [metadata, EventMetadata(), EventMetadata()])
        #expect(read.allSatisfy { $0.stream == "saga-1" && $0.recordedAt == recordedAt })
        #expect(try await store.read(stream: "saga-1", from: 2) == [read[2]])
        #expect(try await store.read(stream: "missing").isEmpty)
        #expect(try await store.readAll(after: 0, limit: 10).map(\.position) == [1, 2, 3, 4])
        #expect(try await store.readAll(after: 2, limit: 1) == [read[2]])
        #expect(try await store.readAll(after: 4, limit: 10).isEmpty)
        #expect(try await store.streamVersion("saga-1") == 2)
        #expect(try await store.streamVersion("missing") == nil)
        #expect(try await store.headPosition == 4)
    }

    @Test(arguments: StoreKind.allCases)
    func wrongExpectedVersionWritesNothing(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        _ = try await store.append(to: "s", expected: .noStream, events: [.test(), .test()])

        let rejected: [(String, ExpectedVersion, Int64?)] = [
            ("s", .noStream, 1), ("s", .exact(0), 1), ("s", .exact(2), 1), ("new", .exact(0), nil),
        ]
        for (stream, expected, actual) in rejected {
            let error = await #expect(throws: EventStoreError.wrongExpectedVersion) {
                try await store.append(to: stream, expected: expected, events: [.test("Rejected")])
            }
            #expect(error?.conflict == .init(stream: stream, expected: expected, actual: actual))
        }
        #expect(try await store.headPosition == 2)
        #expect(try await store.streamVersion("new") == nil)
        #expect(try await store.readAll(after: 0, limit: 10).allSatisfy { $0.type != "Rejected" })

        #expect(try await store.append(to: "s", expected: .any, events: [.test()]).nextExpectedVersion == 2)
        #expect(try await store.append(to: "fresh", expected: .any, events: [.test()]).nextExpectedVersion == 0)
        #expect(try await store.append(to: "s", expected: .exact(2), events: [.test()]).nextExpectedVersion == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func emptyAppendOnlyChecksTheVersion(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        let checked = try await store.append(to: "s", expected: .noStream, events: [])
        #expect(checked == AppendResult(nextExpectedVersion: -1, lastPosition: 0))
        _ = try await store.append(to: "s", expected: .noStream, events: [.test()])
        let rechecked = try await store.append(to: "s", expected: .exact(0), events: [])
        #expect(rechecked == AppendResult(nextExpectedVersion: 0, lastPosition: 1))
        await #expect(throws: EventStoreError.wrongExpectedVersion) {
            try await store.append(to: "s", expected: .noStream, events: [])
        }
        #expect(try await store.headPosition == 1)
    }

    /// Many tasks race to extend one stream, each reading the version and retrying on conflict.
    @Test(arguments: StoreKind.allCases)
    func concurrentAppendersNeverDuplicateOrSkipAVersion(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        let tasks = 20
        let appendsPerTask = 50

        try await withThrowingTaskGroup { group in
            for task in 0..<tasks {
                group.addTask {
                    for index in 0..<appendsPerTask {
                        let event = NewEvent.test("Raced", "\(task)-\(index)")
                        var expected = ExpectedVersion(streamVersion: try await store.streamVersion("race"))
                        while true {
                            do {
                                _ = try await store.append(to: "race", expected: expected, events: [event])
                                break
                            } catch let error as EventStoreError where error == .wrongExpectedVersion {
                                expected = ExpectedVersion(streamVersion: error.conflict?.actual)
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }

        let events = try await store.read(stream: "race")
        let total = tasks * appendsPerTask
        #expect(events.map(\.version) == (0..<Int64(total)).map { $0 })
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.position < $1.position })
        #expect(Set(events.map(\.data)).count == total)
        #expect(try await store.readAll(after: 0, limit: total + 1).count == total)
    }

    /// Appends racing together, some of them doomed: each one succeeds or fails on its own.
    @Test(arguments: StoreKind.allCases)
    func aConflictFailsOnlyItsOwnAppend(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        for index in 0..<100 {
            _ = try await store.append(to: "s-\(index)", expected: .noStream, events: [.test()])
        }

        let outcomes = await withTaskGroup { group in
            for index in 0..<100 {
                group.addTask {
                    let expected: ExpectedVersion = index.isMultiple(of: 2) ? .exact(0) : .exact(7)
                    do {
                        _ = try await store.append(to: "s-\(index)", expected: expected, events: [.test()])
                        return (index, true)
                    } catch {
                        return (index, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }

        for index in 0..<100 {
            let shouldSucceed = index.isMultiple(of: 2)
            #expect(outcomes[index] == shouldSucceed, "append \(index)")
            #expect(try await store.streamVersion("s-\(index)") == (shouldSucceed ? 1 : 0), "stream \(index)")
        }
        #expect(try await store.headPosition == 150)
    }

    @Test(arguments: StoreKind.allCases)
    func listsStreamsByPrefix(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        for stream in ["saga-b", "order-1", "saga-a", "saga", "sagas-x", "saga-a"] {
            _ = try await store.append(to: stream, expected: .any, events: [.test()])
        }
        #expect(try await store.streams(withPrefix: "saga-") == ["saga-a", "saga-b"])
        #expect(try await store.streams(withPrefix: "") == ["order-1", "saga", "saga-a", "saga-b", "sagas-x"])
        #expect(try await store.streams(withPrefix: "zzz").isEmpty)
    }
}
