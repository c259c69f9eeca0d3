public import Foundation

/// An event as stored: its place in the global log and in its stream.
public struct RecordedEvent: Sendable, Hashable {
    /// Place in the global log: strictly increasing across all streams, starting at 1, never reused.
    public var position: Int64
    /// The stream it belongs to, e.g. `saga-<id>`.
    public var stream: String
    /// Place in its stream: the first event has version 0, then 1, 2, … with no gaps.
    public var version: Int64
    /// The event's type name.
    public var type: String
    /// The payload as the caller encoded it.
    public var data: Data
    /// Causation, correlation and trace context.
    public var metadata: EventMetadata
    /// When the store recorded it.
    public var recordedAt: Date

    public init(
        position: Int64, stream: String, version: Int64, type: String, data: Data, metadata: EventMetadata,
        recordedAt: Date
    ) {
        self.position = position
        self.stream = stream
        self.version = version
        self.type = type
        self.data = data
        self.metadata = metadata
        self.recordedAt = recordedAt
    }
}

/// What a successful append reports.
public struct AppendResult: Sendable, Hashable {
    /// The stream's version after the append: pass it as `.exact(…)` to append again.
    /// For an empty append, the stream's current version, or -1 when it does not exist.
    public var nextExpectedVersion: Int64
    /// The global position of the last event written; for an empty append, the head of the log at the time.
    public var lastPosition: Int64

    public init(nextExpectedVersion: Int64, lastPosition: Int64) {
        self.nextExpectedVersion = nextExpectedVersion
        self.lastPosition = lastPosition
    }
}
