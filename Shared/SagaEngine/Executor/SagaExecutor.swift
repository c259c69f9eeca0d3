public import EventStore
public import Foundation
public import Logging
public import SagaHTTP
public import SagaProtocol
public import ServiceLifecycle
import Synchronization

/// The I/O shell around `SagaDecider`: reads and appends saga streams with optimistic concurrency,
/// dispatches commands with the libcurl client, fires durable timers, and resumes unfinished sagas on start.
public final class SagaExecutor: Service, Sendable {
    /// Where the executor's collaborators come from; tests inject clock and ids.
    public struct Dependencies: Sendable {
        public var store: any EventStore
        public var client: HTTPClient
        /// The base URL of participant `service` (`http://127.0.0.1:8081`), nil when unknown.
        public var serviceURL: @Sendable (String) -> String?
        /// Where participants post asynchronous replies (read at each dispatch: the port may be bound later).
        public var replyTo: @Sendable () -> String
        public var ids: any IdentifierGenerator
        public var now: @Sendable () -> Date
        public var crashPoints: CrashPoints
        /// Where appended events are left, decoded, for the view projection; nil when nobody reads them.
        public var appendedEvents: AppendedEvents?
        public var logger: Logger

        public init(
            store: any EventStore, client: HTTPClient, serviceURL: @escaping @Sendable (String) -> String?, replyTo: @escaping @Sendable () -> String,
            ids: any IdentifierGenerator = TimeOrderedIdentifierGenerator(), now: @escaping @Sendable () -> Date = { Date() },
            crashPoints: CrashPoints = .none, appendedEvents: AppendedEvents? = nil, logger: Logger
        ) {
            self.store = store
            self.client = client
            self.serviceURL = serviceURL
            self.replyTo = replyTo
            self.ids = ids
            self.now = now
            self.crashPoints = crashPoints
            self.appendedEvents = appendedEvents
            self.logger = logger
        }
    }

    struct Loaded: Sendable {
        var state: SagaState
        /// Version of the stream's last event.
        var version: Int64
    }

    struct Dispatch: Sendable {
        var sagaId: String
        var envelope: CommandEnvelope
        var url: String
        var timeout: Duration
    }

    let deps: Dependencies
    let locks = SagaLocks()
    /// States of sagas that have not ended, so a reply does not re-read the stream.
    let active = Mutex<[String: Loaded]>([:])
    /// Final states of the sagas that ended last, for `state(of:)` right after the end (`Prefer: wait`, late
    /// replies); bounded, so memory stays flat however many sagas run. Decisions never read it.
    let recentlyEnded = Mutex(RecentStates(capacity: 4096))
    let timers = Mutex<[String: Date]>([:])
    let dispatches: AsyncStream<Dispatch>
    let dispatchQueue: AsyncStream<Dispatch>.Continuation
    /// Requests waiting for a saga to end (`Prefer: wait`), by saga id and waiter id.
    let endWaiters = Mutex<[String: [UInt64: CheckedContinuation<Void, Never>]]>([:])
    let nextWaiter = Atomic<UInt64>(0)

    public init(_ dependencies: Dependencies) {
        deps = dependencies
        (dispatches, dispatchQueue) = AsyncStream.makeStream(of: Dispatch.self)
    }

    /// Stream name of saga `id`.
    public static func stream(_ sagaId: String) -> String { "saga-\(sagaId)" }

    /// Starts saga `sagaId` with `definition`; when the saga already exists (same idempotency key) returns it
    /// unchanged with `created == false`.
    public func start(sagaId: String, definition: SagaDefinition, input: JSONValue) async throws -> (
        state: SagaState, created: Bool
    ) {
        try await locks.withLock(sagaId) {
            if let existing = try await load(sagaId) { return (existing.state, false) }
            var random = SystemRandomNumberGenerator()
            let decision = SagaDecider.decide(
                state: nil, input: .start(sagaId: sagaId, definition: definition, input: input), now: deps.now(), ids: deps.ids,
                random: &random)
            do {
                try await commit(decision, sagaId: sagaId, expected: .noStream)
            } catch let error as EventStoreError where error == .wrongExpectedVersion {
                guard let existing = try await load(sagaId) else { throw error }
                return (existing.state, false)
            }
            perform(decision.effects, state: decision.state!)
            return (decision.state!, true)
        }
    }

    /// Feeds `input` to saga `sagaId`; returns the state after it, nil when there is no such saga.
    @discardableResult
    public func handle(sagaId: String, input: SagaInput) async throws -> SagaState? {
        try await locks.withLock(sagaId) {
            for _ in 0..<8 {
                guard let loaded = try await load(sagaId) else { return nil }
                var random = SystemRandomNumberGenerator()
                let decision = SagaDecider.decide(state: loaded.state, input: input, now: deps.now(), ids: deps.ids, random: &random)
                if decision.isEmpty { return loaded.state }
                do {
                    try await commit(decision, sagaId: sagaId, expected: .exact(loaded.version))
                    if case .reply = input { deps.crashPoints.hit(.afterReplyAppend) }
                    perform(decision.effects, state: decision.state!)
                    return decision.state
                } catch let error as EventStoreError where error == .wrongExpectedVersion {
                    // Another orchestrator advanced the saga: forget our copy and decide again on the stream.
                    active.withLock { _ = $0.removeValue(forKey: sagaId) }
                }
            }
            throw EventStoreError.wrongExpectedVersion
        }
    }

    /// The saga's current state, from memory when it is running, else folded from its stream.
    public func state(of sagaId: String) async throws -> SagaState? {
        if let loaded = active.withLock({ $0[sagaId] }) { return loaded.state }
        if let ended = recentlyEnded.withLock({ $0[sagaId] }) { return ended }
        return try await Self.fold(deps.store.read(stream: Self.stream(sagaId)))?.state
    }

    /// Waits until saga `sagaId` is no longer `running`/`compensating`, or `timeout` passes.
    public func waitForEnd(of sagaId: String, timeout: Duration) async throws -> SagaState? {
        let waiter = nextWaiter.add(1, ordering: .relaxed).newValue
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    self.endWaiters.withLock { $0[sagaId, default: [:]][waiter] = continuation }
                    // The saga may have ended (or never run here) before the waiter was registered.
                    if self.active.withLock({ $0[sagaId] == nil }) { self.wakeEndWaiters(sagaId) }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // On timeout, release only this request's waiter.
            let mine = self.endWaiters.withLock { waiters in waiters[sagaId]?.removeValue(forKey: waiter) }
            mine?.resume()
        }
        return try await state(of: sagaId)
    }

    /// Resumes unfinished sagas, then dispatches commands and fires timers until shutdown.
    public func run() async throws {
        try await recover()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.fireTimers() }
            for await dispatch in dispatches.cancelOnGracefulShutdown() {
                group.addTask { await self.send(dispatch) }
            }
            group.cancelAll()
        }
    }

    /// Rebuilds every saga that has not ended and performs `SagaDecider.resume` for it.
    func recover() async throws {
        var resumed = 0
        for stream in try await deps.store.streams(withPrefix: "saga-") {
            let sagaId = String(stream.dropFirst("saga-".count))
            guard let loaded = try await load(sagaId), !loaded.state.status.isTerminal else { continue }
            perform(SagaDecider.resume(loaded.state), state: loaded.state)
            resumed += 1
        }
        deps.logger.info("recovery done", metadata: ["sagas.resumed": "\(resumed)"])
    }
}

/// A map that keeps only its `capacity` newest entries.
struct RecentStates: Sendable {
    private var states: [String: SagaState] = [:]
    private var order: [String] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    subscript(sagaId: String) -> SagaState? { states[sagaId] }

    mutating func insert(_ state: SagaState) {
        if states.updateValue(state, forKey: state.sagaId) != nil { return }
        if order.count < capacity {
            order.append(state.sagaId)
        } else {
            states.removeValue(forKey: order[next])
            order[next] = state.sagaId
            next = (next + 1) % capacity
        }
    }
}
