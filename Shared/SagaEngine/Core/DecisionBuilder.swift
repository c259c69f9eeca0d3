import Foundation
import SagaProtocol

/// Accumulates one decision: each emitted event is folded with `evolve` at once, so every rule reads
/// the state as it will be after the events before it, and the decision's state equals the fold.
struct DecisionBuilder<IDs: IdentifierGenerator, Random: RandomNumberGenerator> {
    var state: SagaState
    var events: [SagaEvent] = []
    var effects: [SagaEffect] = []
    let now: Date
    let ids: IDs
    var random: Random

    init(state: SagaState, now: Date, ids: IDs, random: Random) {
        self.state = state
        self.now = now
        self.ids = ids
        self.random = random
    }

    var decision: Decision {
        var effects = effects
        if !events.isEmpty, let wakeUp = state.nextWakeUp { effects.append(.scheduleTimer(at: wakeUp)) }
        return Decision(events: events, effects: effects, state: state)
    }

    private mutating func emit(_ event: SagaEvent) {
        events.append(event)
        state = SagaDecider.evolve(state, event)
        if case .stepDispatched = event, let outstanding = state.outstanding,
            let envelope = state.envelope(for: outstanding)
        {
            effects.append(.dispatch(envelope))
        }
    }

    // MARK: inputs

    mutating func receive(_ reply: Reply) {
        guard reply.sagaId == state.sagaId, let outstanding = acceptingAnswer(to: reply.commandId),
            let index = state.index(ofStep: outstanding.step)
        else { return }
        let kind = outstanding.kind
        switch reply.outcome {
        case .succeeded:
            emit(.stepSucceeded(StepSucceeded(
                step: outstanding.step, kind: kind, commandId: outstanding.commandId,
                output: reply.output ?? .emptyObject)))
            if kind == .action { advance(to: index + 1) } else { continueCompensation() }
        case .failed:
            let error = reply.error ?? ReplyError(code: "failed", message: "the participant refused the command")
            emit(.stepFailed(StepFailed(
                step: outstanding.step, kind: kind, commandId: outstanding.commandId, error: error, definitive: true)))
            if kind == .action { actionRefused(index) } else { compensationFailed(index) }
        }
    }

    mutating func transportFailed(commandId: String, outcomeUnknown: Bool, detail: String) {
        guard let outstanding = acceptingAnswer(to: commandId), outstanding.inFlight else { return }
        sendFailed(outstanding, outcomeUnknown: outcomeUnknown, detail: detail)
    }

    mutating func timerFired() {
        guard state.status == .running || state.status == .compensating else { return }
        if deadlinePassed {
            startCompensation(CompensationStarted(reason: CompensationStarted.deadline))
        } else if let retry = state.retry, retry.at <= now, let index = state.index(ofStep: retry.step) {
            if retry.kind == .action { dispatchAction(index) } else { continueCompensation() }
        } else if let outstanding = state.outstanding, outstanding.inFlight, outstanding.timeoutAt <= now {
            sendFailed(outstanding, outcomeUnknown: true, detail: "no reply by \(EventTimestamp.format(outstanding.timeoutAt))")
        }
    }

    mutating func operatorRetry() {
        guard state.status == .failed, state.isCompensating else { return }
        emit(.sagaRetryRequested)
        continueCompensation()
    }

    // MARK: rules

    /// The outstanding command when `commandId` is its id and its kind fits the saga's phase.
    private func acceptingAnswer(to commandId: String) -> OutstandingCommand? {
        guard let outstanding = state.outstanding, outstanding.commandId == commandId else { return nil }
        switch outstanding.kind {
        case .action: return state.status == .running ? outstanding : nil
        case .compensation: return state.status == .compensating ? outstanding : nil
        }
    }

    private var deadlinePassed: Bool {
        guard state.status == .running, !state.pivotStarted, let deadline = state.deadline else { return false }
        return deadline <= now
    }

    /// Goes forward to the step at `index`, or completes the saga after the last one.
    mutating func advance(to index: Int) {
        if index >= state.steps.count {
            emit(.sagaCompleted)
        } else if deadlinePassed {
            startCompensation(CompensationStarted(reason: CompensationStarted.deadline))
        } else {
            dispatchAction(index)
        }
    }

    /// Sends the step's action: the outstanding command again when it belongs to this step (a retry),
    /// otherwise a new command.
    private mutating func dispatchAction(_ index: Int) {
        dispatch(index, kind: .action, attempt: state.steps[index].attempts + 1)
    }

    private mutating func dispatch(_ index: Int, kind: CommandKind, attempt: Int) {
        let step = state.definition.steps[index]
        let commandId: String
        if let outstanding = state.outstanding, outstanding.step == step.name, outstanding.kind == kind {
            commandId = outstanding.commandId
        } else {
            commandId = ids.next(prefix: "c")
        }
        emit(.stepDispatched(StepDispatched(
            step: step.name, kind: kind, commandId: commandId, attempt: attempt,
            timeoutAt: EventTimestamp.adding(step.effectiveTimeout, to: now))))
    }

    /// A send of `outstanding` failed without a reply.
    private mutating func sendFailed(_ outstanding: OutstandingCommand, outcomeUnknown: Bool, detail: String) {
        guard let index = state.index(ofStep: outstanding.step) else { return }
        let unknown = outcomeUnknown || outstanding.isResend
        let error = ReplyError(code: unknown ? "outcome_unknown" : "rejected", message: detail)
        // A rejected action did not run: a definitive failure, unless an earlier send of the same command
        // went unanswered (it may have run). A compensation is never given up that way.
        let definitive = !unknown && outstanding.kind == .action
        emit(.stepFailed(StepFailed(
            step: outstanding.step, kind: outstanding.kind, commandId: outstanding.commandId, error: error,
            definitive: definitive)))
        switch (outstanding.kind, definitive) {
        case (.action, true): actionRefused(index)
        case (.action, false): actionInDoubt(index)
        case (.compensation, _): compensationFailed(index)
        }
    }

    /// After the pivot a refusal is retried with a new command; before it, the saga rolls back.
    private mutating func actionRefused(_ index: Int) {
        if let pivot = state.definition.pivotIndex, index > pivot {
            scheduleRetry(index, kind: .action)
        } else {
            startCompensation(CompensationStarted(reason: CompensationStarted.stepFailed, step: state.steps[index].name))
        }
    }

    /// The pivot and later steps retry forever; earlier ones until their attempts run out, then roll back.
    private mutating func actionInDoubt(_ index: Int) {
        let beyondPivot = state.definition.pivotIndex.map { index >= $0 } ?? false
        if beyondPivot || state.steps[index].attempts < state.definition.steps[index].retry.attempts {
            scheduleRetry(index, kind: .action)
        } else {
            startCompensation(CompensationStarted(reason: CompensationStarted.stepInDoubt, step: state.steps[index].name))
        }
    }

    private mutating func compensationFailed(_ index: Int) {
        if state.steps[index].compensationFailures >= state.definition.maxCompensationAttempts {
            emit(.sagaFailed(SagaFailed(reason: SagaFailed.compensationExhausted, step: state.steps[index].name)))
        } else {
            scheduleRetry(index, kind: .compensation)
        }
    }

    private mutating func scheduleRetry(_ index: Int, kind: CommandKind) {
        let step = state.steps[index]
        let delay: SagaDuration
        switch kind {
        case .action:
            delay = state.definition.steps[index].retry.backoff.delay(afterFailure: step.attempts, using: &random)
        case .compensation:
            delay = state.definition.compensationRetry.delay(afterFailure: step.compensationFailures, using: &random)
        }
        emit(.retryScheduled(RetryScheduled(step: step.name, kind: kind, at: EventTimestamp.adding(delay, to: now))))
    }

    private mutating func startCompensation(_ started: CompensationStarted) {
        emit(.compensationStarted(started))
        continueCompensation()
    }

    /// Sends the next compensation, newest started step first, or ends the saga `compensated`.
    private mutating func continueCompensation() {
        guard let index = state.nextCompensation else {
            emit(.sagaCompensated)
            return
        }
        dispatch(index, kind: .compensation, attempt: state.steps[index].compensationAttempts + 1)
    }
}
