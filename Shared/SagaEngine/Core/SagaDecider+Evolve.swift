import SagaProtocol

extension SagaDecider {
    /// Folds one event into the state. Pure and total: it never fails and never looks at the clock.
    ///
    /// A history that does not begin with `SagaStarted` yields a `failed` state with no steps; a
    /// second `SagaStarted`, or an event naming a step the definition lacks, is ignored.
    public static func evolve(_ state: SagaState?, _ event: SagaEvent) -> SagaState {
        guard var state else {
            if case .sagaStarted(let started) = event {
                var fresh = SagaState(started: started)
                fresh.eventCount = 1
                return fresh
            }
            return orphan(event)
        }
        state.eventCount += 1
        switch event {
        case .sagaStarted:
            break
        case .stepDispatched(let dispatched):
            guard let index = state.index(ofStep: dispatched.step) else { break }
            state.retry = nil
            state.outstanding = OutstandingCommand(
                step: dispatched.step, kind: dispatched.kind, commandId: dispatched.commandId,
                attempt: dispatched.attempt, inFlight: true,
                isResend: state.outstanding?.commandId == dispatched.commandId, timeoutAt: dispatched.timeoutAt)
            update(&state.steps[index], dispatched)
        case .stepSucceeded(let succeeded):
            guard let index = state.index(ofStep: succeeded.step) else { break }
            settle(&state, step: succeeded.step, kind: succeeded.kind)
            switch succeeded.kind {
            case .action:
                state.steps[index].status = .succeeded
                state.steps[index].output = succeeded.output
                state.steps[index].error = nil
                state.context = state.context.mergingObject(succeeded.output)
            case .compensation:
                state.steps[index].status = .compensated
                state.steps[index].compensationError = nil
            }
        case .stepFailed(let failed):
            guard let index = state.index(ofStep: failed.step) else { break }
            if failed.definitive {
                settle(&state, step: failed.step, kind: failed.kind)
            } else if state.outstanding?.commandId == failed.commandId {
                state.outstanding?.inFlight = false
            }
            switch failed.kind {
            case .action:
                state.steps[index].error = failed.error
                if failed.definitive { state.steps[index].status = .failed }
            case .compensation:
                state.steps[index].compensationError = failed.error
                state.steps[index].compensationFailures += 1
            }
        case .retryScheduled(let scheduled):
            state.retry = PendingRetry(step: scheduled.step, kind: scheduled.kind, at: scheduled.at)
        case .compensationStarted(let started):
            state.status = .compensating
            state.compensationReason = started.reason
            state.outstanding = nil
            state.retry = nil
            for index in state.steps.indices where state.steps[index].status == .running {
                state.steps[index].status = .inDoubt
            }
        case .sagaCompleted:
            finish(&state, .completed)
        case .sagaCompensated:
            finish(&state, .compensated)
        case .sagaFailed(let failed):
            state.status = .failed
            state.failureReason = failed.reason
            state.retry = nil
            state.outstanding?.inFlight = false
        case .sagaRetryRequested:
            state.status = state.isCompensating ? .compensating : .running
            state.failureReason = nil
            for index in state.steps.indices { state.steps[index].compensationFailures = 0 }
        }
        return state
    }

    /// A dispatch: a new command id is remembered, an attempt counted.
    private static func update(_ step: inout StepState, _ dispatched: StepDispatched) {
        switch dispatched.kind {
        case .action:
            step.status = .running
            step.attempts = max(step.attempts, dispatched.attempt)
            if step.commandIds.last != dispatched.commandId { step.commandIds.append(dispatched.commandId) }
        case .compensation:
            step.status = .compensating
            step.compensationAttempts = max(step.compensationAttempts, dispatched.attempt)
            if step.compensationCommandIds.last != dispatched.commandId {
                step.compensationCommandIds.append(dispatched.commandId)
            }
        }
    }

    /// A definitive answer: nothing of this step and kind is outstanding or pending any more.
    private static func settle(_ state: inout SagaState, step: String, kind: CommandKind) {
        if state.outstanding?.step == step, state.outstanding?.kind == kind { state.outstanding = nil }
        if state.retry?.step == step, state.retry?.kind == kind { state.retry = nil }
    }

    private static func finish(_ state: inout SagaState, _ status: SagaStatus) {
        state.status = status
        state.outstanding = nil
        state.retry = nil
    }

    /// What a history that does not begin with `SagaStarted` folds to.
    private static func orphan(_ event: SagaEvent) -> SagaState {
        var state = SagaState(
            started: SagaStarted(sagaId: "", definition: SagaDefinition(name: "", steps: []), input: .null, deadline: nil))
        state.status = .failed
        state.failureReason = "history does not begin with SagaStarted (first event: \(event.type))"
        state.eventCount = 1
        return state
    }
}
