import EventStore
import Foundation
import SagaEngine
import SagaHTTP
import SagaProtocol

/// Server-sent events (`text/event-stream`) over the event log: one saga's history then its live events until
/// it ends, or the filtered global log without end. Each event is `id:` (the saga event's version, or the global
/// position), `event:` (its type) and `data:` (the same JSON as the list endpoints); a client that reconnects with
/// `Last-Event-ID` gets what came after that id, nothing twice.
enum EventStreams {
    /// How long a stream waits for new events before checking on the server and the client again.
    static let pollInterval: Duration = .seconds(1)
    /// A comment line this often keeps idle connections alive and finds clients that went away.
    static let heartbeatInterval: Duration = .seconds(15)

    static let headers: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]

    /// Whether the client asked for server-sent events.
    static func wanted(_ request: HTTPRequest) -> Bool {
        request.header("Accept")?.contains("text/event-stream") ?? false
    }

    /// `Last-Event-ID`, else the `after` query parameter; a value that is not a number is a 400.
    static func resumePoint(_ request: HTTPRequest) throws -> Int64? {
        guard let text = request.header("Last-Event-ID") ?? request.query["after"] else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw Problem(
                status: 400, code: "invalid_query", title: "Invalid query",
                detail: "Last-Event-ID / after must be a non-negative number, not '\(text)'", field: "after")
        }
        return value
    }

    /// Saga `id`'s events after version `after` (all when nil), then live ones until the saga ends (completed,
    /// compensated or failed); 404 when there is no such saga.
    static func saga(_ id: String, after: Int64?, store: any EventStore) async throws -> HTTPResponse {
        let stream = SagaExecutor.stream(id)
        guard try await !store.read(stream: stream, from: 0).isEmpty else { throw Problem.notFound("no saga '\(id)'") }
        return .streaming(headers: headers) { writer in
            var next = after.map { $0 + 1 } ?? 0
            var heartbeat = ContinuousClock.now + heartbeatInterval
            while !writer.isStopping {
                let head = try await store.headPosition
                for event in try await store.read(stream: stream, from: next) {
                    try await writer.write(frame(id: event.version, event))
                    next = event.version + 1
                    if ["SagaCompleted", "SagaCompensated", "SagaFailed"].contains(event.type) { return }
                }
                heartbeat = try await waitOrBeat(after: head, store: store, writer: writer, heartbeat: heartbeat)
            }
        }
    }

    /// The global log after `position`, filtered by event types and a stream prefix, until the client leaves.
    static func all(after position: Int64, types: Set<String>?, streamPrefix: String?, store: any EventStore) -> HTTPResponse {
        .streaming(headers: headers) { writer in
            var position = position
            var heartbeat = ContinuousClock.now + heartbeatInterval
            while !writer.isStopping {
                let events = try await store.readAll(after: position, limit: 256)
                for event in events where types?.contains(event.type) ?? true && streamPrefix.map(event.stream.hasPrefix) ?? true {
                    try await writer.write(frame(id: event.position, event))
                }
                if let last = events.last {
                    position = last.position
                    if events.count == 256 { continue }
                }
                heartbeat = try await waitOrBeat(after: position, store: store, writer: writer, heartbeat: heartbeat)
            }
        }
    }

    /// Waits up to `pollInterval` for an event after `position`; sends a heartbeat comment when one is due.
    private static func waitOrBeat(
        after position: Int64, store: any EventStore, writer: HTTPBodyWriter, heartbeat: ContinuousClock.Instant
    ) async throws -> ContinuousClock.Instant {
        if try await store.waitForEvents(after: position, timeout: pollInterval) { return heartbeat }
        guard ContinuousClock.now >= heartbeat else { return heartbeat }
        try await writer.write(Array(":\n\n".utf8))
        return ContinuousClock.now + heartbeatInterval
    }

    /// One event as an SSE frame.
    static func frame(id: Int64, _ event: RecordedEvent) throws -> [UInt8] {
        let data = try JSONCoding.encode(EventView(event))
        return Array("id: \(id)\nevent: \(event.type)\ndata: ".utf8) + Array(data) + Array("\n\n".utf8)
    }
}
