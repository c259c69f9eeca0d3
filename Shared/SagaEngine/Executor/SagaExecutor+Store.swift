import EventStore
import Foundation
import Logging
import Synchronization
import SagaProtocol

extension SagaExecutor {
    /// The saga as stored (cached while it runs); nil when its stream does not exist.
    func load(_ sagaId: String) async throws -> Loaded? {
        if let cached = active.withLock({ $0[sagaId] }) { return cached }
        guard let loaded = try Self.fold(try await deps.store.read(stream: Self.stream(sagaId))) else { return nil }
        if !loaded.state.status.isTerminal { active.withLock { $0[sagaId] = loaded } }
        return loaded
    }

    /// Folds a saga stream with `evolve`; nil for an empty stream. An event that cannot be decoded is a corrupt
    /// store and stops the fold with an error logged by the caller.
    static func fold(_ events: [RecordedEvent]) throws -> Loaded? {
        var state: SagaState?
        for event in events {
            state = SagaDecider.evolve(state, try SagaEvent(type: event.type, data: event.data))
        }
        guard let state, let last = events.last else { return nil }
        return Loaded(state: state, version: last.version)
    }

    /// Appends a decision's events with the expected version, then caches the new state.
    func commit(_ decision: Decision, sagaId: String, expected: ExpectedVersion) async throws {
        guard !decision.events.isEmpty, let state = decision.state else { return }
        deps.crashPoints.hit(.beforeAppend)
        let metadata = EventMetadata(correlationId: sagaId)
        let events = try decision.events.map { NewEvent(type: $0.type, data: try $0.payloadData(), metadata: metadata) }
        let result = try await deps.store.append(to: Self.stream(sagaId), expected: expected, events: events)
        deps.appendedEvents?.record(decision.events, stream: Self.stream(sagaId), lastVersion: result.nextExpectedVersion)
        if state.status.isTerminal {
            recentlyEnded.withLock { $0.insert(state) }
            active.withLock { _ = $0.removeValue(forKey: sagaId) }
            timers.withLock { _ = $0.removeValue(forKey: sagaId) }
            wakeEndWaiters(sagaId)
            deps.logger.info(
                "saga ended", metadata: ["saga.id": "\(sagaId)", "saga.type": "\(state.sagaType)", "saga.status": "\(state.status.rawValue)"])
        } else {
            active.withLock { $0[sagaId] = Loaded(state: state, version: result.nextExpectedVersion) }
        }
    }

    func wakeEndWaiters(_ sagaId: String) {
        let waiters = endWaiters.withLock { $0.removeValue(forKey: sagaId) ?? [:] }
        for waiter in waiters.values { waiter.resume() }
    }
}
