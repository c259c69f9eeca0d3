import Foundation
public import SagaProtocol
import Synchronization

/// Where around the local commit a drop or crash happens.
public enum FaultPoint: String, Codable, Sendable {
    case beforeCommit = "before-commit"
    case afterCommit = "after-commit"
}

/// One fault rule (ARCHITECTURE.md §6). Exactly one effect per rule.
public struct FaultRule: Codable, Sendable, Equatable {
    /// Command type or `*`.
    public var command: String
    /// `action`, `compensation`, or nil for both.
    public var kind: CommandKind?
    /// Probability of a definitive business failure with `code`.
    public var fail: Double?
    public var code: String?
    /// Probability of answering 503 without doing anything.
    public var unavailable: Double?
    /// Wait this long before handling, with probability `rate`.
    public var delayMs: Int?
    public var drop: FaultPoint?
    public var crash: FaultPoint?
    /// Probability for `delayMs`, `drop` and `crash` (default 1).
    public var rate: Double?
    /// The rule fires at most this many times, then stays quiet (deterministic tests: "503 twice, then succeed").
    public var times: Int?

    public init(
        command: String, kind: CommandKind? = nil, fail: Double? = nil, code: String? = nil, unavailable: Double? = nil,
        delayMs: Int? = nil, drop: FaultPoint? = nil, crash: FaultPoint? = nil, rate: Double? = nil,
        times: Int? = nil
    ) {
        self.command = command
        self.kind = kind
        self.fail = fail
        self.code = code
        self.unavailable = unavailable
        self.delayMs = delayMs
        self.drop = drop
        self.crash = crash
        self.rate = rate
        self.times = times
    }

    func applies(to command: CommandEnvelope) -> Bool {
        (self.command == "*" || self.command == command.type) && (kind == nil || kind == command.kind)
    }

    /// Checks the rule names one effect with probabilities in 0...1.
    func validate() throws(Problem) {
        let effects = [fail != nil, unavailable != nil, delayMs != nil, drop != nil, crash != nil].filter { $0 }.count
        guard effects == 1 else {
            throw Problem(
                status: 400, code: "invalid_fault_rule", title: "Invalid fault rule",
                detail: "rule for '\(command)' must have exactly one of fail, unavailable, delayMs, drop, crash")
        }
        for probability in [fail, unavailable, rate].compactMap({ $0 }) where !(0...1).contains(probability) {
            throw Problem(
                status: 400, code: "invalid_fault_rule", title: "Invalid fault rule",
                detail: "probabilities must be within 0...1, got \(probability)")
        }
    }
}

/// A seeded set of fault rules, as `SAGAFLOW_FAULTS` and `PUT /admin/faults` take it.
public struct FaultPlan: Codable, Sendable, Equatable {
    public var seed: UInt64?
    public var rules: [FaultRule]

    public init(seed: UInt64? = nil, rules: [FaultRule]) {
        self.seed = seed
        self.rules = rules
    }
}

/// What the fault injector decided for one command.
struct FaultDecision: Sendable, Equatable {
    var delay: Duration?
    var unavailable = false
    var failure: ReplyError?
    var drop: FaultPoint?
    var crash: FaultPoint?
}

/// Draws fault decisions from the active plan with a seeded generator, so a run can be repeated.
final class FaultInjector: Sendable {
    private struct State {
        var plan: FaultPlan
        var random: SplitMix64
        var fired: [Int: Int] = [:]
    }

    private let state: Mutex<State>

    init(plan: FaultPlan?) {
        let plan = plan ?? FaultPlan(rules: [])
        state = Mutex(State(plan: plan, random: SplitMix64(seed: plan.seed ?? UInt64.random(in: 0...UInt64.max))))
    }

    var plan: FaultPlan { state.withLock { $0.plan } }

    func replace(with plan: FaultPlan) throws(Problem) {
        for rule in plan.rules { try rule.validate() }
        state.withLock { $0 = State(plan: plan, random: SplitMix64(seed: plan.seed ?? UInt64.random(in: 0...UInt64.max))) }
    }

    func decide(for command: CommandEnvelope) -> FaultDecision {
        state.withLock { state in
            var decision = FaultDecision()
            for (index, rule) in state.plan.rules.enumerated() where rule.applies(to: command) {
                if let times = rule.times, state.fired[index, default: 0] >= times { continue }
                let probability = rule.fail ?? rule.unavailable ?? rule.rate ?? 1
                guard state.random.chance(probability) else { continue }
                state.fired[index, default: 0] += 1
                if rule.fail != nil {
                    decision.failure = ReplyError(code: rule.code ?? "injected_failure", message: "injected failure")
                }
                if rule.unavailable != nil { decision.unavailable = true }
                if let ms = rule.delayMs { decision.delay = .milliseconds(ms) }
                if let point = rule.drop { decision.drop = point }
                if let point = rule.crash { decision.crash = point }
            }
            return decision
        }
    }
}
