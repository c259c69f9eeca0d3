public import Foundation
public import SagaProtocol

/// What `decide` is asked to react to.
public enum SagaInput: Sendable, Equatable {
    /// Start a saga with `definition` (the executor looks the type up in its `DefinitionRegistry`).
    case start(sagaId: String, definition: SagaDefinition, input: JSONValue)
    /// A participant's answer, synchronous (200) or delivered later to `POST /replies`.
    case reply(Reply)
    /// Sending a command failed. `outcomeUnknown`: 5xx, 409, 429, a timeout or a dropped connection
    /// (the command may have run); otherwise another 4xx (a bug in the request: it did not run).
    case transportFailure(commandId: String, outcomeUnknown: Bool, detail: String)
    /// A timer the saga asked for came due (or any timer: early or spurious firings are harmless).
    case timerFired
    /// An operator resumes a `failed` saga (`POST /sagas/{id}/retry`).
    case operatorRetry
}

/// Something the executor does after appending a decision's events.
public enum SagaEffect: Sendable, Equatable {
    /// Send the command to its step's service (`POST /commands`), filling in `replyTo`.
    case dispatch(CommandEnvelope)
    /// Call `decide(.timerFired)` at `at`, replacing the saga's previous timer.
    case scheduleTimer(at: Date)
}

/// The outcome of `decide`: events to append, in order, then effects to perform, in order.
public struct Decision: Sendable, Equatable {
    /// Append these to `saga-<id>` in one append, expecting the version the state was read at.
    public var events: [SagaEvent]
    /// Perform these only once the append succeeded.
    public var effects: [SagaEffect]
    /// The state after `events` (equal to folding them with `evolve`); nil when there is no saga.
    public var state: SagaState?

    /// A decision; `decide` makes these.
    public init(events: [SagaEvent] = [], effects: [SagaEffect] = [], state: SagaState?) {
        self.events = events
        self.effects = effects
        self.state = state
    }

    /// Whether the input changed nothing (a duplicate or stale reply, a timer with nothing due).
    public var isEmpty: Bool { events.isEmpty && effects.isEmpty }
}

/// The saga engine's pure core, a decider: `evolve` folds events into a `SagaState`, `decide` turns
/// a state and an input into a `Decision`. Neither does I/O nor reads the clock.
///
/// ## Contract for the executor (the I/O shell)
/// 1. Per saga, serially: read the stream `saga-<id>`, fold it with `evolve` (or keep the state from the
///    last decision), call `decide` with the current time, the id generator and a random generator.
/// 2. Append `decision.events` in one append with the expected version of the stream as read. On a
///    version conflict, drop the decision, re-read and decide again (another orchestrator won). An
///    empty decision appends nothing.
/// 3. Only after the append, perform `decision.effects` in order: `.dispatch` sends the envelope
///    (fill `replyTo`; the step's `service` names the participant); `.scheduleTimer` (re)arms the
///    saga's one timer, which calls `decide(.timerFired)`. Effects are never lost: they are derived
///    from durable events, so after a crash `resume` reproduces them.
/// 4. Feed every HTTP outcome back: 200 → `.reply`; 202 → nothing (the reply comes to `POST /replies`
///    as `.reply`); 5xx, 409, 429, timeout, dropped connection → `.transportFailure(outcomeUnknown:
///    true)`; other 4xx → `.transportFailure(outcomeUnknown: false)`. Duplicates and stale
///    inputs yield empty decisions, so at-least-once delivery is fine.
/// 5. On start, for every saga whose status is not terminal, perform `resume(state)`: it re-sends
///    the in-flight command with the same id and attempt and re-arms the timer.
///
/// ## Rules (ARCHITECTURE.md §4)
/// Steps run in order. A definitive failure before the pivot compensates the started steps, newest
/// first; so does an unknown outcome that outlasts the step's `retry.attempts`, or the deadline passing
/// before the pivot is dispatched (an in-flight step is then `inDoubt` and compensated too). Retries
/// of an unknown outcome resend the same command id after a `RetryScheduled` backoff. The pivot and
/// the steps after it retry until they succeed: unknown outcomes with the same id, definitive
/// refusals with a new id (the same id would be refused again). Compensations retry (same id after an
/// unknown outcome, a new id after a refusal) until `maxCompensationAttempts` failures in a row, then
/// the saga is `failed` until `.operatorRetry`. No action is dispatched once compensation began;
/// replies to actions after that are ignored (the compensation is sent regardless, and participants
/// refuse an action that arrives after its compensation).
public enum SagaDecider {
    /// Decides what `input` means for the saga in `state` (nil: not started) at `now`.
    ///
    /// `ids` makes new command ids (`c-…`); `random` jitters backoffs. Times written into events are
    /// `now`-based and rounded to whole milliseconds.
    public static func decide(
        state: SagaState?, input: SagaInput, now: Date, ids: some IdentifierGenerator,
        random: inout some RandomNumberGenerator
    ) -> Decision {
        let now = EventTimestamp.rounded(now)
        if case .start(let sagaId, let definition, let sagaInput) = input {
            guard state == nil else { return Decision(state: state) }
            let deadline = definition.deadline.map { EventTimestamp.adding($0, to: now) }
            let started = SagaStarted(sagaId: sagaId, definition: definition, input: sagaInput, deadline: deadline)
            var builder = DecisionBuilder(state: SagaState(started: started), now: now, ids: ids, random: random)
            builder.events = [.sagaStarted(started)]
            builder.state.eventCount = 1
            builder.advance(to: 0)
            random = builder.random
            return builder.decision
        }
        guard let state else { return Decision(state: nil) }
        var builder = DecisionBuilder(state: state, now: now, ids: ids, random: random)
        switch input {
        case .start: break
        case .reply(let reply): builder.receive(reply)
        case .transportFailure(let commandId, let outcomeUnknown, let detail):
            builder.transportFailed(commandId: commandId, outcomeUnknown: outcomeUnknown, detail: detail)
        case .timerFired: builder.timerFired()
        case .operatorRetry: builder.operatorRetry()
        }
        random = builder.random
        return builder.decision
    }

    /// The effects that bring a rebuilt saga back to life after a restart: the in-flight command sent
    /// again (same id, same attempt) and the timer re-armed. Empty for a saga that has ended.
    public static func resume(_ state: SagaState) -> [SagaEffect] {
        guard state.status == .running || state.status == .compensating else { return [] }
        var effects: [SagaEffect] = []
        if let outstanding = state.outstanding, outstanding.inFlight, let envelope = state.envelope(for: outstanding) {
            effects.append(.dispatch(envelope))
        }
        if let wakeUp = state.nextWakeUp { effects.append(.scheduleTimer(at: wakeUp)) }
        return effects
    }
}
