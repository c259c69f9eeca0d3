public import Foundation

/// Where an event came from, for tracing: carried unchanged from append to every reader.
public struct EventMetadata: Codable, Sendable, Hashable {
    /// The id of the command or event that caused this one.
    public var causationId: String?
    /// The id that ties a whole conversation together, e.g. the saga id.
    public var correlationId: String?
    /// The W3C trace context of the operation that appended the event.
    public var traceparent: String?

    public init(causationId: String? = nil, correlationId: String? = nil, traceparent: String? = nil) {
        self.causationId = causationId
        self.correlationId = correlationId
        self.traceparent = traceparent
    }
}

/// An event to append; the store gives it a stream, version, position and time.
public struct NewEvent: Sendable, Hashable {
    /// The event's type name, e.g. `StepDispatched`.
    public var type: String
    /// The payload, encoded by the caller (JSON, with `JSONCoding`); the store never looks inside.
    public var data: Data
    /// Causation, correlation and trace context.
    public var metadata: EventMetadata

    public init(type: String, data: Data, metadata: EventMetadata = EventMetadata()) {
        self.type = type
        self.data = data
        self.metadata = metadata
    }
}
