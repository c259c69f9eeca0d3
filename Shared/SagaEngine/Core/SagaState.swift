public import Foundation
public import SagaProtocol

/// Where one step stands. `pending` → `running` → `succeeded` | `failed`; a step that must be undone
/// goes on to `compensating` → `compensated`. `inDoubt`: the action may or may not have happened
/// (unknown outcome when compensation began); it is compensated like a succeeded step.
public enum StepStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case pending, running, succeeded, failed, inDoubt, compensating, compensated
}

/// One step of a running saga.
public struct StepState: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var name: String
    /// Where the step stands.
    public var status: StepStatus = .pending
    /// Sends of the action so far, retries included (0: never started).
    public var attempts = 0
    /// Every action command id used, oldest first; retries of one dispatch share an id.
    public var commandIds: [String] = []
    /// The action's output once it succeeded.
    public var output: JSONValue?
    /// The action's last error.
    public var error: ReplyError?
    /// Sends of the compensation so far.
    public var compensationAttempts = 0
    /// Failed compensation attempts since the compensation began or the operator's last retry.
    public var compensationFailures = 0
    /// Every compensation command id used, oldest first.
    public var compensationCommandIds: [String] = []
    /// The compensation's last error.
    public var compensationError: ReplyError?

    /// A step not yet started.
    public init(name: String) { self.name = name }

    /// Whether the action was ever dispatched: only started steps are compensated.
    public var started: Bool { attempts > 0 }
}

/// The command the saga waits on. It stays outstanding through transient failures and retries (its
/// late reply is still accepted) and is cleared by a definitive answer or by compensation beginning.
public struct OutstandingCommand: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// The command (the participant's idempotency key).
    public var commandId: String
    /// The attempt of the last send.
    public var attempt: Int
    /// Whether the last send awaits its answer (false after a transient failure, until the retry).
    public var inFlight: Bool
    /// Whether this command id was sent before without a definitive answer: a refusal of this send then
    /// cannot prove the command never ran.
    public var isResend: Bool
    /// When an in-flight send counts as unknown outcome.
    public var timeoutAt: Date
}

/// A retry waiting for its timer (`RetryScheduled`).
public struct PendingRetry: Codable, Sendable, Equatable {
    /// The step's name in the definition.
    public var step: String
    /// Whether it concerns the action or the compensation.
    public var kind: CommandKind
    /// When the retry is due.
    public var at: Date
}

/// A saga's state: the fold of its events with `SagaDecider.evolve`.
public struct SagaState: Codable, Sendable, Equatable {
    /// The saga's id; its stream is `saga-<id>`.
    public var sagaId: String
    /// The saga type (`definition.name`).
    public var sagaType: String
    /// The definition the saga started with; it never changes.
    public var definition: SagaDefinition
    /// The input the saga was started with.
    public var input: JSONValue
    /// The input merged with every succeeded action's object output, in step order.
    public var context: JSONValue
    /// Where the saga stands.
    public var status: SagaStatus
    /// When the saga is compensated if it has not dispatched its pivot.
    public var deadline: Date?
    /// One per definition step, same order.
    public var steps: [StepState]
    /// The command the saga waits on, if any.
    public var outstanding: OutstandingCommand?
    /// The retry waiting for its timer, if any.
    public var retry: PendingRetry?
    /// Why compensation began (`CompensationStarted.reason`), nil while going forward.
    public var compensationReason: String?
    /// Why the saga is `failed`.
    public var failureReason: String?
    /// Events folded so far.
    public var eventCount = 0

    /// The state right after `started`.
    public init(started: SagaStarted) {
        sagaId = started.sagaId
        sagaType = started.sagaType
        definition = started.definition
        input = started.input
        context = started.input
        status = .running
        deadline = started.deadline
        steps = started.definition.steps.map { StepState(name: $0.name) }
    }

    /// Whether compensation has begun: no action is dispatched any more.
    public var isCompensating: Bool { compensationReason != nil }

    /// Whether the pivot's action was ever dispatched: from then on the deadline no longer applies and
    /// the pivot and later steps retry until they succeed.
    public var pivotStarted: Bool { definition.pivotIndex.map { steps[$0].started } ?? false }

    /// When the saga next needs `timerFired`: the earliest of a pending retry, the in-flight command's
    /// timeout and (before the pivot) the deadline. Nil when nothing is waiting on time.
    public var nextWakeUp: Date? {
        guard status == .running || status == .compensating else { return nil }
        var times: [Date] = []
        if let retry { times.append(retry.at) }
        if let outstanding, outstanding.inFlight { times.append(outstanding.timeoutAt) }
        if status == .running, !pivotStarted, let deadline { times.append(deadline) }
        return times.min()
    }

    /// Index of the step called `name`.
    public func index(ofStep name: String) -> Int? { steps.firstIndex { $0.name == name } }

    /// The step that compensates next: the newest started compensable step not yet compensated.
    public var nextCompensation: Int? {
        steps.indices.reversed().first { index in
            definition.isCompensable(index)
                && [.succeeded, .inDoubt, .compensating].contains(steps[index].status)
        }
    }

    /// The payload of the action at `index`: the input merged with the outputs of the steps before it.
    public func actionPayload(at index: Int) -> JSONValue {
        steps[..<index].reduce(input) { payload, step in step.output.map { payload.mergingObject($0) } ?? payload }
    }

    /// The command to send for `outstanding` (the executor fills `replyTo`).
    public func envelope(for command: OutstandingCommand) -> CommandEnvelope? {
        guard let index = index(ofStep: command.step) else { return nil }
        let definitionStep = definition.steps[index]
        let compensating = command.kind == .compensation
        return CommandEnvelope(
            id: command.commandId, sagaId: sagaId, sagaType: sagaType, step: command.step,
            type: compensating ? definitionStep.compensation ?? definitionStep.action : definitionStep.action,
            kind: command.kind, attempt: command.attempt,
            payload: compensating ? context : actionPayload(at: index),
            compensates: compensating ? steps[index].commandIds.last : nil)
    }
}

extension JSONValue {
    /// `self` with `other`'s fields added when both are objects; otherwise `self` unchanged.
    func mergingObject(_ other: JSONValue) -> JSONValue {
        guard case .object = self, case .object = other else { return self }
        return merging(other)
    }
}
