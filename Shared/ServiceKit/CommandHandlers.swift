public import Foundation
public import GRDB
public import SagaProtocol

/// What a handler decided: the step's effect is done (with output for later steps), or a definitive refusal.
public enum CommandResult: Sendable {
    case succeeded(JSONValue)
    case failed(ReplyError)

    /// Success with an encodable output.
    public static func succeeded(_ output: some Encodable) throws -> CommandResult {
        .succeeded(try JSONValue(encoding: output))
    }

    /// A definitive business refusal with a stable code.
    public static func failed(code: String, _ message: String) -> CommandResult {
        .failed(ReplyError(code: code, message: message))
    }
}

/// What a handler sees: the command and the open transaction its changes, inbox row and outbox rows share.
public struct CommandContext {
    public let command: CommandEnvelope
    /// The transaction; everything written through it commits or rolls back with the reply.
    public let db: Database
    public let now: Date
    let eventsURL: String?

    /// The payload decoded as `type`; a missing or mistyped field is a 400 naming it (a bug in the request).
    public func payload<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try command.payload.decode(type)
        } catch let error as DecodingError {
            let problem = DecodingProblem(error)
            throw Problem(
                status: 400, code: "invalid_payload", title: "Invalid command payload",
                detail: "\(command.type): \(problem.message)", field: problem.field.map { "payload.\($0)" })
        }
    }

    /// Publishes a domain event through the outbox, in this transaction (sent to the orchestrator's `/events`).
    public func publish(_ type: String, stream: String, data: some Encodable) throws {
        guard let eventsURL else { return }
        let event = OutgoingDomainEvent(
            id: "e-\(TimeOrderedUUID.make(now: now))", type: type, stream: stream, data: data, causationId: command.id,
            correlationId: command.sagaId, occurredAt: now)
        try Outbox.enqueue(
            db, kind: .event, destination: eventsURL, orderingKey: command.sagaId, body: try JSONCoding.encode(event),
            now: now)
    }
}

/// A `DomainEvent` as it is encoded, with its data still in the handler's type: encoded once, straight to the
/// outbox body, rather than to a `JSONValue` first (an encode and a decode more, 7% of a participant's CPU).
struct OutgoingDomainEvent<Payload: Encodable>: Encodable {
    var id: String
    var type: String
    var stream: String
    var data: Payload
    var causationId: String?
    var correlationId: String?
    var occurredAt: Date
}

/// A handler: runs inside the command's transaction; must not do I/O other than through `context.db`.
public typealias CommandHandler = @Sendable (CommandContext) throws -> CommandResult

/// The handlers of one participant, per command type and kind.
public struct CommandHandlers: Sendable {
    var handlers: [HandlerKey: CommandHandler] = [:]

    struct HandlerKey: Hashable {
        var type: String
        var kind: CommandKind
    }

    public init() {}

    /// Registers the action for command type `type`.
    public mutating func action(_ type: String, _ handler: @escaping CommandHandler) {
        handlers[HandlerKey(type: type, kind: .action)] = handler
    }

    /// Registers the compensation for command type `type`; it runs only when the step's action succeeded here.
    public mutating func compensation(_ type: String, _ handler: @escaping CommandHandler) {
        handlers[HandlerKey(type: type, kind: .compensation)] = handler
    }

    func handler(for command: CommandEnvelope) -> CommandHandler? {
        handlers[HandlerKey(type: command.type, kind: command.kind)]
    }

    /// The registered command types, for `/health` and errors.
    public var commandTypes: [String] { Set(handlers.keys.map(\.type)).sorted() }
}
