import EventStore
import Foundation
import TestSupport
import Testing

/// Waiting for new events and live subscriptions, run against each implementation.
@Suite("EventStore live reads")
struct EventStoreLiveTests {
    @Test(arguments: StoreKind.allCases)
    func aWaitingReaderIsWokenByAnAppend(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        _ = try await store.append(to: "s", expected: .noStream, events: [.test()])

        let clock = ContinuousClock()
        let started = clock.now
        async let woken = store.waitForEvents(after: 1, timeout: .seconds(60))
        try await Task.sleep(for: .milliseconds(100))
        _ = try await store.append(to: "s", expected: .exact(0), events: [.test()])

        #expect(try await woken)
        #expect(clock.now - started < .seconds(10))
    }

    @Test(arguments: StoreKind.allCases)
    func waitingReturnsAtOnceOrTimesOut(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        #expect(try await store.waitForEvents(after: 0, timeout: .milliseconds(50)) == false)
        _ = try await store.append(to: "s", expected: .noStream, events: [.test()])
        #expect(try await store.waitForEvents(after: 0, timeout: .zero))
        #expect(try await store.waitForEvents(after: 1, timeout: .milliseconds(50)) == false)
    }

    @Test(arguments: StoreKind.allCases)
    func aCancelledWaitReturnsPromptly(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        let clock = ContinuousClock()
        let started = clock.now
        let wait = Task { try await store.waitForEvents(after: 0, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        wait.cancel()
        #expect(try await wait.value == false)
        #expect(clock.now - started < .seconds(10))
    }

    @Test(arguments: StoreKind.allCases)
    func aSubscriptionDeliversPastThenLiveEventsInOrder(kind: StoreKind) async throws {
        let made = try kind.make()
        defer { made.remove() }
        let store = made.store
        _ = try await store.append(to: "a", expected: .noStream, events: [.test(), .test()])
        _ = try await store.append(to: "b", expected: .noStream, events: [.test()])

        let subscriber = Task {
            var seen: [RecordedEvent] = []
            for try await event in store.subscribe(after: 1, batchSize: 2) {
                seen.append(event)
                if seen.count == 5 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(100))
        for index in 0..<3 {
            _ = try await store.append(to: "c", expected: .any, events: [.test("Live", "\(index)")])
        }

        let seen = try await subscriber.value
        #expect(seen.map(\.position) == [2, 3, 4, 5, 6])
        #expect(seen.suffix(3).map(\.type) == ["Live", "Live", "Live"])
    }
}
