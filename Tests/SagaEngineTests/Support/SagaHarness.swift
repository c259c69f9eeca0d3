import Foundation
import SagaEngine
import SagaProtocol

/// Drives one saga through `SagaDecider.decide` the way an executor would, keeping the log, the
/// dispatched commands and a test clock.
struct SagaHarness {
    var state: SagaState?
    var events: [SagaEvent] = []
    var decisions: [Decision] = []
    var now = Date(timeIntervalSince1970: 1_700_000_000)
    let ids = CountingIdentifierGenerator()
    var random: SplitMix64

    init(seed: UInt64 = 1) { random = SplitMix64(seed: seed) }

    /// Starts a saga of `definition` with id `s-1`.
    @discardableResult
    mutating func start(_ definition: SagaDefinition, input: JSONValue = ["customerId": "alice"]) -> Decision {
        decide(.start(sagaId: "s-1", definition: definition, input: input))
    }

    @discardableResult
    mutating func decide(_ input: SagaInput) -> Decision {
        let decision = SagaDecider.decide(state: state, input: input, now: now, ids: ids, random: &random)
        decisions.append(decision)
        events += decision.events
        state = decision.state
        return decision
    }

    /// Every command dispatched so far, in order.
    var dispatched: [CommandEnvelope] {
        decisions.flatMap(\.effects).compactMap { effect in
            if case .dispatch(let envelope) = effect { envelope } else { nil }
        }
    }

    /// The command the saga waits on right now, as it was last sent.
    var outstanding: CommandEnvelope? {
        guard let outstanding = state?.outstanding else { return nil }
        return dispatched.last { $0.id == outstanding.commandId }
    }

    /// Answers the outstanding command with success.
    @discardableResult
    mutating func succeed(output: JSONValue = .emptyObject) -> Decision {
        decide(.reply(.succeeded(outstanding!, output: output)))
    }

    /// Answers the outstanding command with a definitive refusal.
    @discardableResult
    mutating func refuse(_ code: String = "declined") -> Decision {
        decide(.reply(.failed(outstanding!, ReplyError(code: code, message: code))))
    }

    /// Reports a transport failure of the outstanding command.
    @discardableResult
    mutating func transportFailure(outcomeUnknown: Bool = true) -> Decision {
        decide(.transportFailure(commandId: outstanding!.id, outcomeUnknown: outcomeUnknown, detail: "503"))
    }

    /// Moves the clock to the saga's next wake-up and fires the timer; nil when none is set.
    @discardableResult
    mutating func fireTimer() -> Decision? {
        guard let wakeUp = state?.nextWakeUp else { return nil }
        now = max(now, wakeUp)
        return decide(.timerFired)
    }

    /// The fold of every event so far, as a restarted executor would rebuild it.
    var rebuilt: SagaState? { events.reduce(nil) { SagaDecider.evolve($0, $1) } }

    /// Event types so far, for readable expectations.
    var eventTypes: [String] { events.map(\.type) }
}

/// Definitions for tests.
enum Definitions {
    /// A saga of `count` steps `s0`, `s1`, … with the pivot at `pivot`.
    static func make(
        steps count: Int, pivot: Int? = nil, attempts: Int = 3, deadline: SagaDuration? = nil,
        maxCompensationAttempts: Int = 3
    ) -> SagaDefinition {
        SagaDefinition(
            name: "test-saga",
            steps: (0..<count).map { index in
                StepDefinition(
                    name: "s\(index)", service: "svc", action: "Do\(index)",
                    compensation: index < (pivot ?? count) ? "Undo\(index)" : nil, pivot: index == pivot,
                    timeout: .seconds(2),
                    retry: RetryPolicy(attempts: attempts, backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1))))
            },
            deadline: deadline, maxCompensationAttempts: maxCompensationAttempts)
    }

    /// `compose/sagas/place-order.yml` of this repository.
    static func placeOrder() throws -> SagaDefinition {
        try SagaDefinition(contentsOf: sagasDirectory.appendingPathComponent("place-order.yml"))
    }

    /// The repository's `compose/sagas`.
    static var sagasDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("compose/sagas")
    }
}
