public import Foundation
import Synchronization

/// An event store in memory, for tests and demos: same semantics as `SQLiteEventStore`, nothing durable.
public final class InMemoryEventStore: EventStore {
    private struct State {
        var log: [RecordedEvent] = []
        /// Indices into `log` of each stream's events, in version order.
        var streams: [String: [Int]] = [:]
    }

    private let state = Mutex(State())
    private let waiters = PositionWaiters(head: 0)
    private let now: @Sendable () -> Date

    /// An empty store; `now` stamps `recordedAt`.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    public func append(to stream: String, expected: ExpectedVersion, events: [NewEvent]) async throws
        -> AppendResult
    {
        let recordedAt = now()
        let result = try state.withLock { state throws(EventStoreError) -> AppendResult in
            let indices = state.streams[stream] ?? []
            let current = indices.isEmpty ? nil : Int64(indices.count - 1)
            guard expected.isSatisfied(by: current) else {
                throw .wrongExpectedVersion(stream: stream, expected: expected, actual: current)
            }
            var version = current ?? -1
            for event in events {
                version += 1
                let recorded = RecordedEvent(
                    position: Int64(state.log.count + 1), stream: stream, version: version, type: event.type,
                    data: event.data, metadata: event.metadata, recordedAt: recordedAt)
                state.streams[stream, default: []].append(state.log.count)
                state.log.append(recorded)
            }
            return AppendResult(nextExpectedVersion: version, lastPosition: Int64(state.log.count))
        }
        waiters.advance(to: result.lastPosition)
        return result
    }

    public func read(stream: String, from version: Int64) async throws -> [RecordedEvent] {
        state.withLock { state in
            let indices = state.streams[stream] ?? []
            let start = Int(clamping: max(0, version))
            guard start < indices.count else { return [] }
            return indices[start...].map { state.log[$0] }
        }
    }

    public func readAll(after position: Int64, limit: Int) async throws -> [RecordedEvent] {
        state.withLock { state in
            // Position p is at index p - 1, so the events after `position` start at index `position`.
            let start = Int(clamping: max(0, position))
            guard start < state.log.count, limit > 0 else { return [] }
            return Array(state.log[start..<(start + min(state.log.count - start, limit))])
        }
    }

    public func streamVersion(_ stream: String) async throws -> Int64? {
        state.withLock { state in state.streams[stream].map { Int64($0.count - 1) } }
    }

    public func waitForEvents(after position: Int64, timeout: Duration) async throws -> Bool {
        try await waiters.wait(after: position, timeout: timeout)
    }

    public var headPosition: Int64 {
        get async throws { state.withLock { Int64($0.log.count) } }
    }

    public func streams(withPrefix prefix: String) async throws -> [String] {
        state.withLock { state in state.streams.keys.filter { $0.hasPrefix(prefix) }.sorted() }
    }
}
