import Foundation
import SagaProtocol
import Synchronization

/// A saga type: its ordered steps and how failures are retried (`compose/sagas/*.yml`, ARCHITECTURE.md §4).
///
/// The Codable form uses the same keys as the YAML file, with defaults filled in; it is what a
/// `SagaStarted` event embeds, so a running saga never depends on the files again.
public struct SagaDefinition: Codable, Sendable, Equatable {
    /// The saga type, e.g. `place-order`; `POST /sagas` names it in `type`.
    public var name: String
    /// The author's version number, informational; identity is `hash`.
    public var version: Int
    /// The steps, run in this order.
    public var steps: [StepDefinition]
    /// How long the saga may run before it is compensated, if it has not reached its pivot by then.
    public var deadline: SagaDuration?
    /// Failed attempts of one compensation before the saga becomes `failed` and waits for an operator.
    public var maxCompensationAttempts: Int
    /// Backoff between attempts of a compensation.
    public var compensationRetry: Backoff

    /// Default for `maxCompensationAttempts`.
    public static let defaultMaxCompensationAttempts = 10
    /// Default for `compensationRetry`.
    public static let defaultCompensationRetry = Backoff(initial: .milliseconds(100), maximum: .seconds(10))

    /// A definition; `SagaDefinition.init(yaml:file:)` is the validating way to make one.
    public init(
        name: String, version: Int = 1, steps: [StepDefinition], deadline: SagaDuration? = nil,
        maxCompensationAttempts: Int = SagaDefinition.defaultMaxCompensationAttempts,
        compensationRetry: Backoff = SagaDefinition.defaultCompensationRetry
    ) {
        self.name = name
        self.version = version
        self.steps = steps
        self.deadline = deadline
        self.maxCompensationAttempts = maxCompensationAttempts
        self.compensationRetry = compensationRetry
    }

    /// Index of the pivot step, nil when the saga has none (then every step is compensable).
    public var pivotIndex: Int? { steps.firstIndex(where: \.pivot) }

    /// Whether the step at `index` is undone when the saga rolls back: the steps before the pivot.
    public func isCompensable(_ index: Int) -> Bool { index < (pivotIndex ?? steps.count) }

    /// Index of the step called `name`.
    public func index(ofStep name: String) -> Int? { steps.firstIndex { $0.name == name } }

    /// Identity of the definition's content: 16 hex digits of FNV-1a 64 over its canonical JSON
    /// (sorted keys, defaults filled in, durations canonical), so formatting and comments in the file
    /// do not change it. It tells versions apart; it is not a cryptographic digest.
    public var hash: String {
        DefinitionHashes.shared.hash(of: self)
    }

    /// Computes `hash`: encodes the whole definition, so `DefinitionHashes` remembers it.
    fileprivate func computeHash() -> String {
        // Encoding plain strings, numbers and arrays cannot fail; an empty input would still hash.
        let bytes = (try? JSONCoding.encode(self)) ?? Data()
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// The hashes of the definitions seen lately: every `SagaStarted` carries its definition's hash, and encoding the
/// definition to hash it again for each saga showed in the profile (2% of the orchestrator's CPU).
private final class DefinitionHashes: Sendable {
    static let shared = DefinitionHashes()
    /// Most definitions remembered; a process rarely has more than a few.
    private static let capacity = 64
    private let recent = Mutex<[(definition: SagaDefinition, hash: String)]>([])

    func hash(of definition: SagaDefinition) -> String {
        if let known = recent.withLock({ $0.first { $0.definition == definition }?.hash }) { return known }
        let hash = definition.computeHash()
        recent.withLock { recent in
            if recent.count == Self.capacity { recent.removeFirst() }
            recent.append((definition, hash))
        }
        return hash
    }
}

/// One step of a saga: an action in a service and, before the pivot, the compensation that undoes it.
public struct StepDefinition: Codable, Sendable, Equatable {
    /// Unique within the saga, e.g. `authorize-payment`.
    public var name: String
    /// The participant that runs it, resolved by the executor (compose file / `SAGAFLOW_SERVICE_<NAME>`).
    public var service: String
    /// Command type of the action, e.g. `AuthorizePayment`.
    public var action: String
    /// Command type that undoes the action; present exactly for the steps before the pivot.
    public var compensation: String?
    /// After this step succeeds the saga can no longer roll back.
    public var pivot: Bool
    /// How long to wait for a reply before the outcome counts as unknown; `defaultTimeout` when nil.
    public var timeout: SagaDuration?
    /// Retries of the action when its outcome is unknown.
    public var retry: RetryPolicy

    /// Reply timeout for a step that sets none: without one a lost asynchronous reply would stall the saga.
    public static let defaultTimeout = SagaDuration.seconds(30)

    /// A step definition.
    public init(
        name: String, service: String, action: String, compensation: String? = nil, pivot: Bool = false,
        timeout: SagaDuration? = nil, retry: RetryPolicy = .default
    ) {
        self.name = name
        self.service = service
        self.action = action
        self.compensation = compensation
        self.pivot = pivot
        self.timeout = timeout
        self.retry = retry
    }

    /// The timeout in force: `timeout`, else `defaultTimeout`.
    public var effectiveTimeout: SagaDuration { timeout ?? Self.defaultTimeout }
}

/// Capped exponential backoff: `initial`, doubling per failure, never above `maximum`.
public struct Backoff: Codable, Sendable, Equatable {
    /// Delay after the first failure.
    public var initial: SagaDuration
    /// Ceiling of the delay.
    public var maximum: SagaDuration

    /// A backoff from `initial` to `maximum`.
    public init(initial: SagaDuration, maximum: SagaDuration) {
        self.initial = initial
        self.maximum = maximum
    }

    enum CodingKeys: String, CodingKey {
        case initial = "backoff"
        case maximum = "maxBackoff"
    }

    /// The delay after the `failures`-th failure (1-based) with "equal jitter": half the capped
    /// exponential delay plus a random part of the other half, in whole milliseconds.
    public func delay(afterFailure failures: Int, using random: inout some RandomNumberGenerator) -> SagaDuration {
        let exponent = min(max(failures - 1, 0), 40)
        let (raw, overflow) = initial.milliseconds.multipliedReportingOverflow(by: Int64(1) << exponent)
        let capped = overflow ? maximum.milliseconds : min(raw, maximum.milliseconds)
        let half = capped / 2
        return .milliseconds(half + Int64.random(in: 0...(capped - half), using: &random))
    }
}

/// How often a step's action is tried when its outcome is unknown, and how long to wait in between.
///
/// Encodes flat: `{attempts, backoff, maxBackoff}`.
public struct RetryPolicy: Codable, Sendable, Equatable {
    /// Attempts in all, the first included; at least 1.
    public var attempts: Int
    /// Delay between attempts.
    public var backoff: Backoff

    /// The policy of a step that sets none: 3 attempts, 100ms doubling up to 5s.
    public static let `default` = RetryPolicy(
        attempts: 3, backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(5)))

    /// A policy of `attempts` with `backoff`.
    public init(attempts: Int, backoff: Backoff) {
        self.attempts = attempts
        self.backoff = backoff
    }

    enum CodingKeys: String, CodingKey { case attempts }

    public init(from decoder: any Decoder) throws {
        attempts = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .attempts)
        backoff = try Backoff(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attempts, forKey: .attempts)
        try backoff.encode(to: encoder)
    }
}
