/// A live, endless sequence of the global log after a position: first what is stored, then each new event
/// as it is appended. It ends (returns nil) when the consuming task is cancelled.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent

    let store: any EventStore
    let position: Int64
    let batchSize: Int

    /// Iterates the log, reading `batchSize` events at a time and waiting when it reaches the head.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let store: any EventStore
        let batchSize: Int
        var position: Int64
        var buffer: ArraySlice<RecordedEvent> = []

        public mutating func next() async throws -> RecordedEvent? {
            while buffer.isEmpty {
                if Task.isCancelled { return nil }
                buffer = try await store.readAll(after: position, limit: batchSize)[...]
                if buffer.isEmpty {
                    _ = try await store.waitForEvents(after: position, timeout: .seconds(5))
                }
            }
            let event = buffer.popFirst()
            position = event?.position ?? position
            return event
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, batchSize: batchSize, position: position)
    }
}

extension EventStore {
    /// Every event with position `> position`, live: past events first, then new ones as they are appended.
    public func subscribe(after position: Int64, batchSize: Int = 256) -> EventSubscription {
        EventSubscription(store: self, position: position, batchSize: max(1, batchSize))
    }
}
