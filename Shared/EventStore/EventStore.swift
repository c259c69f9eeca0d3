/// An append-only log of events grouped in streams, with optimistic concurrency per stream.
///
/// Numbering: a stream's versions count from 0 with no gaps; global positions count from 1, strictly
/// increase in commit order and are never reused, so position 0 means "before the first event".
/// An append is all-or-nothing and, once it returns, durable and visible to every read.
public protocol EventStore: Sendable {
    /// Appends `events` to `stream` if its version matches `expected`; otherwise throws
    /// `EventStoreError.wrongExpectedVersion` and writes nothing. An empty `events` only checks the version.
    func append(to stream: String, expected: ExpectedVersion, events: [NewEvent]) async throws -> AppendResult

    /// The events of `stream` with version `>= version`, in version order; empty when the stream does not exist.
    func read(stream: String, from version: Int64) async throws -> [RecordedEvent]

    /// Up to `limit` events of the global log with position `> position`, in position order.
    func readAll(after position: Int64, limit: Int) async throws -> [RecordedEvent]

    /// The version of the last event in `stream`, or nil when the stream does not exist.
    func streamVersion(_ stream: String) async throws -> Int64?

    /// Waits until the log holds an event after `position`; returns false if `timeout` passes first.
    /// Returns at once when such an event already exists. The building block of live subscriptions.
    func waitForEvents(after position: Int64, timeout: Duration) async throws -> Bool

    /// The position of the last event in the log; 0 when the log is empty.
    var headPosition: Int64 { get async throws }

    /// The names of the streams starting with `prefix`, sorted; e.g. every `saga-` stream on recovery.
    func streams(withPrefix prefix: String) async throws -> [String]
}

extension EventStore {
    /// The whole of `stream`, in version order.
    public func read(stream: String) async throws -> [RecordedEvent] {
        try await read(stream: stream, from: 0)
    }
}
