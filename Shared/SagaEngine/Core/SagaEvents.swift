public import Foundation
public import SagaProtocol

/// A saga was started: everything needed to run it, the full definition included, so recovery never
/// depends on the definition files.
public struct SagaStarted: Codable, Sendable, Equatable {
    /// The saga's id; its stream is `saga-<id>`.
    public var sagaId: String
    /// The saga type (`SagaDefinition.name`).
    public var sagaType: String
    /// `definition.version`, denormalized for readers of the log.
    public var definitionVersion: Int
    /// `definition.hash`, denormalized for readers of the log.
    public var definitionHash: String
    /// The definition this saga runs with until it ends.
    public var definition: SagaDefinition
    /// The input given to `POST /sagas`.
    public var input: JSONValue
    /// When the saga is compensated if it has not reached its pivot; nil without a deadline.
    public var deadline: Date?

    /// The event; `decide` makes these.
    public init(sagaId: String, definition: SagaDefinition, input: JSONValue, deadline: Date?) {
        self.sagaId = sagaId
        self.sagaType = definition.name
        self.definitionVersion = definition.version
        self.definitionHash = definition.hash
        self.definition = definition
        self.input = input
        self.deadline = deadline
    }

    enum CodingKeys: String, CodingKey {
        case sagaId, sagaType, definitionVersion, definitionHash, definition, input, deadline
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sagaId = try container.decode(String.self, forKey: .sagaId)
        sagaType = try container.decode(String.self, forKey: .sagaType)
        definitionVersion = try container.decode(Int.self, forKey: .definitionVersion)
        definitionHash = try container.decode(String.self, forKey: .definitionHash)
        definition = try container.decode(SagaDefinition.self, forKey: .definition)
        input = try container.decode(JSONValue.self, forKey: .input)
        deadline = try container.decodeTimestampIfPresent(forKey: .deadline)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sagaId, forKey: .sagaId)
        try container.encode(sagaType, forKey: .sagaType)
        try container.encode(definitionVersion, forKey: .definitionVersion)
        try container.encode(definitionHash, forKey: .definitionHash)
        try container.encode(definition, forKey: .definition)
        try container.encode(input, forKey: .input)
        try container.encodeTimestamp(deadline, forKey: .deadline)
    }
}

/// A command is about to be sent (durable before the HTTP call: the store is the outbox).
/// A retry of the same dispatch repeats `commandId` with a higher `attempt`.
public struct StepDispatched: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// The command (the participant's idempotency key).
    public var commandId: String
    /// Counts every send of this step's action (or compensation), from 1.
    public var attempt: Int
    /// When the outcome counts as unknown if no reply came.
    public var timeoutAt: Date

    /// The event; `decide` makes these.
    public init(step: String, kind: CommandKind, commandId: String, attempt: Int, timeoutAt: Date) {
        self.step = step
        self.kind = kind
        self.commandId = commandId
        self.attempt = attempt
        self.timeoutAt = timeoutAt
    }

    enum CodingKeys: String, CodingKey { case step, kind, commandId, attempt, timeoutAt }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(String.self, forKey: .step)
        kind = try container.decode(CommandKind.self, forKey: .kind)
        commandId = try container.decode(String.self, forKey: .commandId)
        attempt = try container.decode(Int.self, forKey: .attempt)
        timeoutAt = try container.decodeTimestamp(forKey: .timeoutAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(step, forKey: .step)
        try container.encode(kind, forKey: .kind)
        try container.encode(commandId, forKey: .commandId)
        try container.encode(attempt, forKey: .attempt)
        try container.encodeTimestamp(timeoutAt, forKey: .timeoutAt)
    }
}

/// A participant answered `succeeded` to a command.
public struct StepSucceeded: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// The command (the participant's idempotency key).
    public var commandId: String
    /// The reply's output; an action's object output is merged into the saga context.
    public var output: JSONValue

    /// The event; `decide` makes these.
    public init(step: String, kind: CommandKind, commandId: String, output: JSONValue) {
        self.step = step
        self.kind = kind
        self.commandId = commandId
        self.output = output
    }
}

/// A command failed: `definitive` for a business refusal (the command changed nothing and resending
/// it would be refused again), otherwise the outcome is unknown or transient and the same command id
/// may be retried.
public struct StepFailed: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// The command (the participant's idempotency key).
    public var commandId: String
    /// Why: the reply's error, or `outcome_unknown` / `rejected` for transport failures.
    public var error: ReplyError
    /// A business refusal (true), or an unknown or transient outcome (false).
    public var definitive: Bool

    /// The event; `decide` makes these.
    public init(step: String, kind: CommandKind, commandId: String, error: ReplyError, definitive: Bool) {
        self.step = step
        self.kind = kind
        self.commandId = commandId
        self.error = error
        self.definitive = definitive
    }
}

/// A durable timer: the step's command is sent again at `at`.
public struct RetryScheduled: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// When the retry is due.
    public var at: Date

    /// The event; `decide` makes these.
    public init(step: String, kind: CommandKind, at: Date) {
        self.step = step
        self.kind = kind
        self.at = at
    }

    enum CodingKeys: String, CodingKey { case step, kind, at }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(String.self, forKey: .step)
        kind = try container.decode(CommandKind.self, forKey: .kind)
        at = try container.decodeTimestamp(forKey: .at)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(step, forKey: .step)
        try container.encode(kind, forKey: .kind)
        try container.encodeTimestamp(at, forKey: .at)
    }
}

/// The saga stops going forward and undoes its started steps, newest first.
public struct CompensationStarted: Codable, Sendable, Equatable {
    /// `step-failed` (a definitive failure), `step-in-doubt` (outcome unknown after its retries) or `deadline`.
    public var reason: String
    /// The step that caused it, nil for `deadline`.
    public var step: String?

    /// The event; `decide` makes these.
    public init(reason: String, step: String? = nil) {
        self.reason = reason
        self.step = step
    }

    /// Reason: a step failed definitively.
    public static let stepFailed = "step-failed"
    /// Reason: a step's outcome was still unknown after its retries.
    public static let stepInDoubt = "step-in-doubt"
    /// Reason: the saga deadline passed before the pivot was dispatched.
    public static let deadline = "deadline"
}

/// The saga stopped and needs an operator (`POST /sagas/{id}/retry`).
public struct SagaFailed: Codable, Sendable, Equatable {
    /// `compensation-exhausted`.
    public var reason: String
    /// The step whose compensation gave up.
    public var step: String?

    /// The event; `decide` makes these.
    public init(reason: String, step: String? = nil) {
        self.reason = reason
        self.step = step
    }

    /// Reason: a compensation failed `maxCompensationAttempts` times in a row.
    public static let compensationExhausted = "compensation-exhausted"
}
