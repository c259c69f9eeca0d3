import Foundation
import SagaEngine
import SagaProtocol
import Testing

/// Random sagas under random faults. Set `SAGAFLOW_PROPERTY_SEED` to replay a failure's seed.
@Suite("Saga decider properties")
struct DeciderPropertyTests {
    static let runs = 500

    static let baseSeed: UInt64 = ProcessInfo.processInfo.environment["SAGAFLOW_PROPERTY_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 0...UInt64.max)

    @Test func randomSagasKeepTheInvariants() {
        let single = ProcessInfo.processInfo.environment["SAGAFLOW_PROPERTY_SEED"] != nil
        var outcomes: [SagaStatus: Int] = [:]
        for run in 0..<(single ? 1 : Self.runs) {
            let seed = Self.baseSeed &+ UInt64(run)
            var simulation = Simulation(seed: seed)
            simulation.run()
            outcomes[simulation.saga.state?.status ?? .running, default: 0] += 1
            if !simulation.violations.isEmpty {
                Issue.record(
                    """
                    seed \(seed) (replay: SAGAFLOW_PROPERTY_SEED=\(seed)): \(simulation.violations.prefix(5).joined(separator: "; "))
                    events: \(simulation.saga.eventTypes.joined(separator: ", "))
                    """)
                return
            }
        }
        if !single {
            // A test that cannot fail is worthless: make sure every ending actually occurs.
            #expect(outcomes[.completed, default: 0] > 0 && outcomes[.compensated, default: 0] > 0
                && outcomes[.failed, default: 0] > 0, "outcomes \(outcomes), base seed \(Self.baseSeed)")
        }
    }
}

/// One random saga: a random definition, then random replies, faults, duplicates and timer firings
/// until it ends. Faults stop after `calmAfter` inputs, so every saga can end.
struct Simulation {
    var random: SplitMix64
    var saga: SagaHarness
    var violations: [String] = []
    let definition: SagaDefinition
    let calmAfter = 120
    var inputs = 0
    /// Replies that were accepted (changed the state): delivering one again must change nothing.
    var accepted: [Reply] = []

    init(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let count = Int.random(in: 2...5, using: &random)
        definition = Definitions.make(
            steps: count, pivot: random.chance(0.6) ? Int.random(in: 0..<count, using: &random) : nil,
            attempts: Int.random(in: 1...3, using: &random),
            deadline: random.chance(0.3) ? .milliseconds(Int64.random(in: 200...8000, using: &random)) : nil,
            maxCompensationAttempts: Int.random(in: 1...3, using: &random))
        saga = SagaHarness(seed: random.next())
        self.random = random
    }

    var calm: Bool { inputs > calmAfter }

    mutating func run() {
        feed(.start(sagaId: "s-1", definition: definition, input: ["n": 1]))
        var operatorRetries = 0
        while inputs < 2000, let state = saga.state {
            if state.status == .failed {
                guard operatorRetries < 3, calm || random.chance(0.7) else { break }
                operatorRetries += 1
                feed(.operatorRetry)
                continue
            }
            if state.status.isTerminal { break }
            step()
        }
        checkEnd()
    }

    /// One random input.
    mutating func step() {
        let faultRate = calm ? 0 : 0.3
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<8 where !accepted.isEmpty:
            let duplicate = accepted.randomElement(using: &random)!
            let decision = saga.decide(.reply(duplicate))
            if !decision.isEmpty { violations.append("duplicate reply \(duplicate.commandId) changed the saga") }
        case 0..<14:
            // A late or bogus answer to some earlier command: the invariants must hold whatever it does.
            if let old = saga.dispatched.randomElement(using: &random) {
                answer(old, faultRate: 0.5)
            }
        case 14..<30:
            if calm || random.chance(0.5) { fireTimer() } else { feed(.timerFired) }
        default:
            // Usually the command in flight; sometimes nothing answers and only the timer helps.
            guard let command = saga.outstanding, random.chance(calm ? 1 : 0.85) else {
                fireTimer()
                return
            }
            answer(command, faultRate: faultRate)
        }
    }

    mutating func fireTimer() {
        if let decision = saga.fireTimer() { record(decision) }
    }

    mutating func answer(_ command: CommandEnvelope, faultRate: Double) {
        let roll = Double.random(in: 0..<1, using: &random)
        if roll >= faultRate {
            feed(.reply(.succeeded(command, output: ["out-\(command.step)": .string(command.id)])))
        } else if roll < faultRate * 0.4 {
            feed(.reply(.failed(command, ReplyError(code: "refused", message: "random refusal"))))
        } else {
            feed(.transportFailure(commandId: command.id, outcomeUnknown: random.chance(0.8), detail: "random fault"))
        }
    }

    mutating func feed(_ input: SagaInput) {
        record(saga.decide(input))
        if case .reply(let reply) = input, !saga.decisions.last!.events.isEmpty { accepted.append(reply) }
    }

    /// Checks one decision against the state before it and the history.
    mutating func record(_ decision: Decision) {
        inputs += 1
        let history = saga.events.dropLast(decision.events.count)
        let before: SagaState? = history.reduce(nil) { SagaDecider.evolve($0, $1) }
        if decision.events.reduce(before, { SagaDecider.evolve($0, $1) }) != decision.state {
            violations.append("decision state differs from folding its events")
        }
        var compensating = before?.isCompensating ?? false
        let dispatchEffects = decision.effects.compactMap { effect -> CommandEnvelope? in
            if case .dispatch(let envelope) = effect { envelope } else { nil }
        }
        var dispatchedIds: [String] = []
        for (offset, event) in decision.events.enumerated() {
            switch event {
            case .compensationStarted:
                compensating = true
            case .stepDispatched(let dispatched):
                dispatchedIds.append(dispatched.commandId)
                if dispatched.kind == .action, compensating {
                    violations.append("action \(dispatched.step) dispatched after compensation began")
                }
                if dispatched.kind == .compensation {
                    checkCompensationOrder(dispatched, priorEvents: Array(history) + decision.events.prefix(offset))
                }
            default:
                break
            }
        }
        if dispatchEffects.map(\.id) != dispatchedIds { violations.append("dispatch effects differ from StepDispatched") }
    }

    /// A compensation is only for a started step, and only once every newer started step is compensated
    /// (a step whose action was refused changed nothing and needs none).
    mutating func checkCompensationOrder(_ dispatched: StepDispatched, priorEvents: [SagaEvent]) {
        let index = definition.index(ofStep: dispatched.step)!
        var started = Set<String>()
        var refused = Set<String>()
        var compensated = Set<String>()
        for event in priorEvents {
            switch event {
            case .stepDispatched(let earlier) where earlier.kind == .action:
                started.insert(earlier.step)
                refused.remove(earlier.step)
            case .stepFailed(let earlier) where earlier.kind == .action && earlier.definitive:
                refused.insert(earlier.step)
            case .stepSucceeded(let earlier) where earlier.kind == .compensation:
                compensated.insert(earlier.step)
            default:
                break
            }
        }
        if !started.contains(dispatched.step) { violations.append("compensation of unstarted step \(dispatched.step)") }
        if compensated.contains(dispatched.step) { violations.append("step \(dispatched.step) compensated twice") }
        for newer in definition.steps[(index + 1)...]
        where started.contains(newer.name) && !refused.contains(newer.name) && newer.compensation != nil {
            if !compensated.contains(newer.name) {
                violations.append("\(dispatched.step) compensated before the newer \(newer.name)")
            }
        }
    }

    mutating func checkEnd() {
        guard let state = saga.state else { return violations.append("no saga") }
        if saga.rebuilt != state { violations.append("rebuilding from the events gives another state") }
        let stored = try? saga.events.map { try SagaEvent(type: $0.type, data: $0.payloadData()) }
        if stored?.reduce(nil, { SagaDecider.evolve($0, $1) }) != state {
            violations.append("rebuilding from stored (encoded) events gives another state")
        }
        switch state.status {
        case .completed:
            if !state.steps.allSatisfy({ $0.status == .succeeded }) { violations.append("completed with unsucceeded steps") }
        case .compensated:
            for (index, step) in state.steps.enumerated() where step.started && definition.isCompensable(index) {
                let undone = saga.events.contains { event in
                    if case .stepSucceeded(let succeeded) = event { succeeded.step == step.name && succeeded.kind == .compensation }
                    else { false }
                }
                if step.status != .failed, !undone || step.status != .compensated {
                    violations.append("compensated but \(step.name) (\(step.status)) was not undone")
                }
            }
            if let pivot = definition.pivotIndex, state.steps[pivot].status == .succeeded {
                violations.append("rolled back after the pivot succeeded")
            }
        case .failed:
            if state.failureReason != SagaFailed.compensationExhausted { violations.append("failed for \(String(describing: state.failureReason))") }
        case .running, .compensating:
            violations.append("saga did not end: \(state.status) after \(inputs) inputs")
        }
        if state.status.isTerminal, state.status != .failed, SagaDecider.resume(state) != [] {
            violations.append("an ended saga still has effects to resume")
        }
    }
}
