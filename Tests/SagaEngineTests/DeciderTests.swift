import Foundation
import SagaEngine
import SagaProtocol
import Testing

@Suite("Saga decider scenarios")
struct DeciderTests {
    @Test func happyPathRunsStepsInOrderAndMergesOutputs() throws {
        var saga = SagaHarness()
        saga.start(try Definitions.placeOrder(), input: ["customerId": "alice", "amount": 500])
        saga.succeed(output: ["orderId": "o-1"])
        #expect(saga.outstanding?.payload == ["customerId": "alice", "amount": 500, "orderId": "o-1"])
        saga.succeed(output: ["paymentId": "p-1"])
        saga.succeed(output: ["reservationId": "r-1"])
        saga.succeed()
        #expect(saga.dispatched.map(\.type) == ["CreateOrder", "AuthorizePayment", "ReserveSeats", "ApproveOrder"])
        #expect(saga.dispatched.allSatisfy { $0.kind == .action && $0.attempt == 1 && $0.sagaId == "s-1" })
        #expect(Set(saga.dispatched.map(\.id)).count == 4)
        #expect(saga.state?.status == .completed)
        #expect(saga.state?.context["reservationId"] == "r-1")
        #expect(saga.eventTypes.last == "SagaCompleted")
        #expect(saga.rebuilt == saga.state)
    }

    @Test func refusalCompensatesStartedStepsNewestFirst() throws {
        var saga = SagaHarness()
        saga.start(try Definitions.placeOrder())
        saga.succeed(output: ["orderId": "o-1"])
        saga.succeed(output: ["paymentId": "p-1"])
        let payment = saga.dispatched[1]
        saga.refuse("sold_out")
        #expect(saga.events.contains(.compensationStarted(CompensationStarted(reason: "step-failed", step: "reserve-seats"))))
        let refund = try #require(saga.outstanding)
        #expect(refund.type == "RefundPayment")
        #expect(refund.kind == .compensation)
        #expect(refund.compensates == payment.id)
        #expect(refund.payload["paymentId"] == "p-1")
        saga.succeed()
        #expect(saga.outstanding?.type == "CancelOrder")
        saga.succeed()
        #expect(saga.state?.status == .compensated)
        #expect(saga.state?.steps.map(\.status) == [.compensated, .compensated, .failed, .pending])
    }

    @Test func unknownOutcomeRetriesTheSameCommandThenCompensatesIt() throws {
        var saga = SagaHarness()
        saga.start(try Definitions.placeOrder())
        saga.succeed()
        let payment = try #require(saga.outstanding)
        for attempt in 1...5 {
            #expect(saga.outstanding?.id == payment.id)
            #expect(saga.outstanding?.attempt == attempt)
            saga.transportFailure()
            if attempt < 5 {
                #expect(saga.events.last.map { $0.type } == "RetryScheduled")
                let retryAt = try #require(saga.state?.retry?.at)
                #expect(retryAt > saga.now)
                saga.fireTimer()
            }
        }
        #expect(saga.state?.compensationReason == "step-in-doubt")
        #expect(saga.state?.steps[1].status == .compensating)
        #expect(saga.outstanding?.type == "RefundPayment")
        #expect(saga.outstanding?.compensates == payment.id)
    }

    @Test func aStepTimeoutIsAnUnknownOutcome() throws {
        var saga = SagaHarness()
        saga.start(try Definitions.placeOrder())
        saga.succeed()
        let payment = try #require(saga.outstanding)
        saga.now += 1
        #expect(saga.decide(.timerFired).isEmpty, "nothing is due yet")
        saga.fireTimer()
        guard case .stepFailed(let failed) = saga.events[saga.events.count - 2] else {
            Issue.record("expected StepFailed, got \(saga.eventTypes)")
            return
        }
        #expect(!failed.definitive)
        #expect(failed.commandId == payment.id)
        // The late reply to the timed-out send still counts.
        saga.decide(.reply(.succeeded(payment, output: ["paymentId": "p-1"])))
        #expect(saga.state?.steps[1].status == .succeeded)
        #expect(saga.state?.retry == nil)
        #expect(saga.outstanding?.type == "ReserveSeats")
    }

    @Test func deadlineBeforeThePivotCompensatesTheInFlightStepToo() throws {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 3, pivot: 2, deadline: .seconds(1)))
        saga.succeed()
        saga.now += 1.5
        saga.decide(.timerFired)
        #expect(saga.state?.compensationReason == "deadline")
        #expect(saga.state?.steps[1].status == .compensating)
        #expect(saga.outstanding?.type == "Undo1")
        saga.succeed()
        saga.succeed()
        #expect(saga.state?.status == .compensated)
    }

    @Test func deadlineNoLongerAppliesOnceThePivotIsDispatched() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 2, pivot: 1, deadline: .seconds(1)))
        saga.succeed()
        saga.now += 1.5
        saga.decide(.timerFired)
        #expect(!(saga.state?.isCompensating ?? true))
        saga.succeed()
        #expect(saga.state?.status == .completed)
    }

    @Test func stepsAfterThePivotRetryUntilTheySucceed() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 3, pivot: 1, attempts: 1))
        saga.succeed()
        saga.succeed()
        let first = saga.outstanding!
        saga.refuse()
        saga.fireTimer()
        #expect(saga.outstanding?.id != first.id, "a refused command is retried under a new id")
        for _ in 0..<6 {
            saga.transportFailure()
            saga.fireTimer()
        }
        #expect(saga.outstanding?.attempt == 8)
        saga.succeed()
        #expect(saga.state?.status == .completed)
        #expect(!saga.eventTypes.contains("CompensationStarted"))
    }

    @Test func exhaustedCompensationFailsUntilAnOperatorRetries() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 2, maxCompensationAttempts: 2))
        saga.succeed()
        saga.refuse()
        let undo = saga.outstanding!
        saga.transportFailure()
        saga.fireTimer()
        #expect(saga.outstanding?.id == undo.id)
        saga.transportFailure(outcomeUnknown: false)
        #expect(saga.state?.status == .failed)
        #expect(saga.events.last == .sagaFailed(SagaFailed(reason: "compensation-exhausted", step: "s0")))
        #expect(saga.state?.nextWakeUp == nil)
        #expect(saga.decide(.timerFired).isEmpty)
        saga.decide(.operatorRetry)
        #expect(saga.state?.status == .compensating)
        #expect(saga.outstanding?.id == undo.id)
        #expect(saga.outstanding?.attempt == 3)
        saga.succeed()
        #expect(saga.state?.status == .compensated)
        #expect(saga.decide(.operatorRetry).isEmpty)
    }

    @Test func aRejectedActionIsADefinitiveFailure() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 2))
        saga.succeed()
        saga.transportFailure(outcomeUnknown: false)
        #expect(saga.state?.compensationReason == "step-failed")
        #expect(saga.state?.steps[1].status == .failed)
    }

    @Test func aRejectedResendAfterAnUnknownOutcomeIsStillInDoubt() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 2, attempts: 2))
        saga.succeed()
        let first = saga.outstanding!
        saga.transportFailure()
        saga.fireTimer()
        #expect(saga.outstanding?.id == first.id)
        // The first send may have run: a refusal of the resend proves nothing, so the step is compensated too.
        saga.transportFailure(outcomeUnknown: false)
        #expect(saga.state?.compensationReason == "step-in-doubt")
        #expect(saga.state?.steps[1].status == .compensating)
        #expect(saga.outstanding?.step == "s1")
        #expect(saga.outstanding?.kind == .compensation)
    }

    @Test func duplicateStaleAndForeignRepliesChangeNothing() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 3))
        let first = saga.outstanding!
        let reply = Reply.succeeded(first)
        saga.decide(.reply(reply))
        #expect(saga.decide(.reply(reply)).isEmpty)
        #expect(saga.decide(.reply(.failed(first, ReplyError(code: "x", message: "")))).isEmpty)
        #expect(saga.decide(.transportFailure(commandId: first.id, outcomeUnknown: true, detail: "")).isEmpty)
        #expect(saga.decide(.reply(Reply(commandId: "c-999", sagaId: "s-1", step: "s1", outcome: .succeeded))).isEmpty)
        var foreign = Reply.succeeded(saga.outstanding!)
        foreign.sagaId = "s-2"
        #expect(saga.decide(.reply(foreign)).isEmpty)
        #expect(saga.decide(.start(sagaId: "s-1", definition: Definitions.make(steps: 1), input: [:])).isEmpty)
    }

    @Test func actionRepliesAfterCompensationBeganAreIgnored() {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 3, deadline: .seconds(1)))
        saga.succeed()
        let inFlight = saga.outstanding!
        saga.now += 2
        saga.decide(.timerFired)
        #expect(saga.state?.isCompensating == true)
        #expect(saga.decide(.reply(.succeeded(inFlight))).isEmpty)
    }

    @Test func resumeResendsTheInFlightCommandUnchanged() throws {
        var saga = SagaHarness()
        saga.start(try Definitions.placeOrder())
        saga.succeed()
        let inFlight = try #require(saga.outstanding)
        let rebuilt = try #require(saga.rebuilt)
        let effects = SagaDecider.resume(rebuilt)
        #expect(effects.first == .dispatch(inFlight))
        #expect(effects.last == .scheduleTimer(at: rebuilt.nextWakeUp!))
    }

    @Test func eventsSurviveTheStoreEncoding() throws {
        var saga = SagaHarness()
        saga.start(Definitions.make(steps: 3, pivot: 2, deadline: .seconds(5), maxCompensationAttempts: 1))
        saga.now += 0.0123
        saga.succeed(output: ["x": 1.5])
        saga.transportFailure()
        saga.fireTimer()
        saga.refuse()
        saga.refuse()
        saga.decide(.operatorRetry)
        saga.succeed()
        let types = Set(saga.eventTypes)
        #expect(types.isSuperset(of: ["SagaStarted", "StepDispatched", "StepSucceeded", "StepFailed", "RetryScheduled",
                                      "CompensationStarted", "SagaFailed", "SagaRetryRequested", "SagaCompensated"]))
        let stored = try saga.events.map { try SagaEvent(type: $0.type, data: $0.payloadData()) }
        #expect(stored == saga.events)
        let whole = try saga.events.map { try JSONCoding.decode(SagaEvent.self, from: JSONCoding.encode($0)) }
        #expect(whole == saga.events)
        #expect(stored.reduce(nil) { SagaDecider.evolve($0, $1) } == saga.state)
        #expect(throws: DecodingProblem.self) { try SagaEvent(type: "Nope", data: Data("{}".utf8)) }
    }

    @Test func evolveIsTotal() {
        let orphan = SagaDecider.evolve(nil, .sagaCompleted)
        #expect(orphan.status == .failed)
        #expect(orphan.steps.isEmpty)
    }

    @Test func backoffIsCappedAndJittered() {
        var random = SplitMix64(seed: 7)
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        for failures in 1...20 {
            let capped = min(100 << min(failures - 1, 20), 1000)
            let delay = backoff.delay(afterFailure: failures, using: &random).milliseconds
            #expect(delay >= Int64(capped / 2) && delay <= Int64(capped))
        }
    }
}
