import SagaEngine
import Testing

@Suite struct AppendedEventsTests {
    @Test func anEventIsTakenOnceByStreamVersionAndType() {
        let appended = AppendedEvents()
        appended.record([.sagaCompleted, .sagaCompensated], stream: "saga-s-1", lastVersion: 7)
        #expect(appended.take(stream: "saga-s-1", version: 6, type: "SagaCompleted") == .sagaCompleted)
        #expect(appended.take(stream: "saga-s-1", version: 6, type: "SagaCompleted") == nil, "taken once")
        #expect(appended.take(stream: "saga-s-2", version: 7, type: "SagaCompensated") == nil, "another stream")
        #expect(appended.take(stream: "saga-s-1", version: 7, type: "SagaFailed") == nil, "another type")
        #expect(appended.count == 0, "a mismatch forgets the event too")
    }

    @Test func pastItsCapacityItEmptiesRatherThanGrows() {
        let appended = AppendedEvents(capacity: 10)
        for version in 0..<25 { appended.record([.sagaCompleted], stream: "saga-s", lastVersion: Int64(version)) }
        #expect(appended.count <= 10)
        #expect(appended.take(stream: "saga-s", version: 24, type: "SagaCompleted") == .sagaCompleted)
        #expect(appended.take(stream: "saga-s", version: 0, type: "SagaCompleted") == nil)
    }
}
