public import Foundation

/// Whether a command does a step's work or undoes it.
public enum CommandKind: String, Codable, Sendable, Hashable, CaseIterable {
    case action
    case compensation
}

/// A command the orchestrator sends to a participant (`POST /commands`).
public struct CommandEnvelope: Codable, Sendable, Equatable {
    /// Unique per dispatch; retries of the same dispatch reuse it. The participant's idempotency key.
    public var id: String
    public var sagaId: String
    public var sagaType: String
    public var step: String
    /// Command type, e.g. `AuthorizePayment`.
    public var type: String
    public var kind: CommandKind
    public var attempt: Int
    /// The saga input merged with the outputs of the steps before this one.
    public var payload: JSONValue
    /// Where an asynchronous reply goes (`POST replyTo`).
    public var replyTo: String?
    /// Id of the action command this compensation undoes, so a participant can match them.
    public var compensates: String?

    public init(
        id: String, sagaId: String, sagaType: String, step: String, type: String, kind: CommandKind,
        attempt: Int = 1, payload: JSONValue = .emptyObject, replyTo: String? = nil, compensates: String? = nil
    ) {
        self.id = id
        self.sagaId = sagaId
        self.sagaType = sagaType
        self.step = step
        self.type = type
        self.kind = kind
        self.attempt = attempt
        self.payload = payload
        self.replyTo = replyTo
        self.compensates = compensates
    }
}

/// How a participant answered a command.
public enum ReplyOutcome: String, Codable, Sendable, Hashable {
    /// The step's effect is committed.
    case succeeded
    /// A definitive business refusal: nothing was changed.
    case failed
}

/// A business error with a stable code (`insufficient_funds`, `sold_out`, `compensated`).
public struct ReplyError: Codable, Sendable, Equatable, Error {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A participant's answer to one command, synchronous (200) or later through `replyTo`.
public struct Reply: Codable, Sendable, Equatable {
    public var commandId: String
    public var sagaId: String
    public var step: String
    public var outcome: ReplyOutcome
    public var output: JSONValue?
    public var error: ReplyError?

    public init(
        commandId: String, sagaId: String, step: String, outcome: ReplyOutcome, output: JSONValue? = nil,
        error: ReplyError? = nil
    ) {
        self.commandId = commandId
        self.sagaId = sagaId
        self.step = step
        self.outcome = outcome
        self.output = output
        self.error = error
    }

    /// A success reply to `command`.
    public static func succeeded(_ command: CommandEnvelope, output: JSONValue = .emptyObject) -> Reply {
        Reply(commandId: command.id, sagaId: command.sagaId, step: command.step, outcome: .succeeded, output: output)
    }

    /// A definitive failure reply to `command`.
    public static func failed(_ command: CommandEnvelope, _ error: ReplyError) -> Reply {
        Reply(commandId: command.id, sagaId: command.sagaId, step: command.step, outcome: .failed, error: error)
    }
}

/// A fact a participant publishes through its outbox (`OrderCreated`, `PaymentRefunded`, …).
public struct DomainEvent: Codable, Sendable, Equatable {
    /// Unique; the orchestrator deduplicates by it.
    public var id: String
    public var type: String
    /// The entity stream it belongs to, e.g. `order-<id>`.
    public var stream: String
    public var data: JSONValue
    /// The command that caused it.
    public var causationId: String?
    /// The saga it belongs to.
    public var correlationId: String?
    public var occurredAt: Date

    public init(
        id: String, type: String, stream: String, data: JSONValue, causationId: String? = nil,
        correlationId: String? = nil, occurredAt: Date
    ) {
        self.id = id
        self.type = type
        self.stream = stream
        self.data = data
        self.causationId = causationId
        self.correlationId = correlationId
        self.occurredAt = occurredAt
    }
}

/// Saga status values (ARCHITECTURE.md §4).
public enum SagaStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case running, compensating, completed, compensated, failed

    /// Whether the saga has ended (`failed` waits for an operator but advances no further by itself).
    public var isTerminal: Bool { self == .completed || self == .compensated || self == .failed }
}
