import EventStore
import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import ServiceLifecycle
import Synchronization

/// The service bus: delivers the global log's events to each subscription's webhook, in log order, at least
/// once, each subscription on its own task so a slow or failing subscriber delays only itself. A failed delivery
/// is retried with capped exponential backoff; after `maxAttempts` the event is parked as a dead letter and
/// delivery moves on. Deliveries are signed like every inter-service call.
final class SubscriptionBus: Service, Sendable {
    let subscriptions: SubscriptionStore
    let store: any EventStore
    let client: HTTPClient
    let logger: Logger
    private let workers = Mutex<[String: Task<Void, Never>]>([:])
    private let running = Atomic<Bool>(false)

    /// First retry delay; doubles per attempt up to `maxBackoff`.
    static let initialBackoff: Duration = .milliseconds(100)
    static let maxBackoff: Duration = .seconds(5)
    static let deliveryTimeout: Duration = .seconds(10)

    init(path: String, store: any EventStore, client: HTTPClient, logger: Logger) throws {
        subscriptions = try SubscriptionStore(path: path)
        self.store = store
        self.client = client
        self.logger = logger
    }

    /// The built-in subscription that calls each saga's `callbackUrl` when it ends (listed like the others).
    static let callbacks = Subscription(
        name: "_saga-callbacks", url: "callbackUrl of each saga",
        filter: SubscriptionFilter(types: ["SagaCompleted", "SagaCompensated", "SagaFailed"]), maxAttempts: 10)

    /// Delivers until graceful shutdown.
    func run() async throws {
        _ = try await subscriptions.create(Self.callbacks, after: try await store.headPosition)
        running.store(true, ordering: .releasing)
        for (subscription, checkpoint) in try await subscriptions.all() { startWorker(subscription, after: checkpoint) }
        try? await gracefulShutdown()
        running.store(false, ordering: .releasing)
        let tasks = workers.withLock { workers in
            defer { workers = [:] }
            return Array(workers.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Stores a new subscription and starts delivering after `position`; false when the name is taken.
    func create(_ subscription: Subscription, after position: Int64) async throws -> Bool {
        guard try await subscriptions.create(subscription, after: position) else { return false }
        if running.load(ordering: .acquiring) { startWorker(subscription, after: position) }
        logger.info("subscription created", metadata: ["subscription": "\(subscription.name)", "url": "\(subscription.url)"])
        return true
    }

    /// Stops delivering to `name` and forgets it; false when there was none.
    func delete(_ name: String) async throws -> Bool {
        let task = workers.withLock { $0.removeValue(forKey: name) }
        task?.cancel()
        await task?.value
        return try await subscriptions.delete(name)
    }

    /// Delivers one parked event again, once; on success it leaves the dead letters.
    func replay(_ name: String, position: Int64) async throws -> Result<Void, DeliveryFailure> {
        guard let subscription = try await subscriptions.all().first(where: { $0.subscription.name == name })?.subscription,
            try await subscriptions.deadLetters(name).contains(where: { $0.position == position }),
            let event = try await store.readAll(after: position - 1, limit: 1).first, event.position == position
        else { throw Problem.notFound("no dead letter at position \(position) for subscription '\(name)'") }
        let result = await deliver(event, to: subscription)
        if case .success = result { _ = try await subscriptions.removeDeadLetter(name, position: position) }
        return result
    }

    private func startWorker(_ subscription: Subscription, after checkpoint: Int64) {
        let task = Task { await self.follow(subscription, after: checkpoint) }
        workers.withLock { $0[subscription.name] = task }
    }

    /// One subscription's delivery loop, until cancelled.
    private func follow(_ subscription: Subscription, after start: Int64) async {
        var checkpoint = start
        var logger = self.logger
        logger[metadataKey: "subscription"] = "\(subscription.name)"
        while !Task.isCancelled {
            do {
                let events = try await store.readAll(after: checkpoint, limit: 100)
                guard !events.isEmpty else {
                    _ = try await store.waitForEvents(after: checkpoint, timeout: .seconds(1))
                    continue
                }
                var delivered = 0
                for event in events {
                    if subscription.filter.matches(event) {
                        guard try await deliverWithRetries(event, to: subscription, logger: logger) else { return }
                        delivered += 1
                        // Durable after each delivery: a restart redelivers at most the event in flight.
                        try await subscriptions.advance(subscription.name, to: event.position, delivered: 1)
                    }
                    checkpoint = event.position
                }
                if delivered < events.count { try await subscriptions.advance(subscription.name, to: checkpoint, delivered: 0) }
            } catch is CancellationError {
                return
            } catch {
                logger.error("subscription delivery loop failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: Self.maxBackoff)
            }
        }
    }

    /// Delivers `event` until it succeeds or is parked; false when cancelled first.
    private func deliverWithRetries(_ event: RecordedEvent, to subscription: Subscription, logger: Logger) async throws -> Bool {
        var attempt = 1
        while true {
            switch await deliver(event, to: subscription) {
            case .success:
                return true
            case .failure(let failure):
                if Task.isCancelled { return false }
                try await subscriptions.recordError(subscription.name, "position \(event.position), attempt \(attempt): \(failure)")
                if attempt >= subscription.maxAttempts {
                    try await subscriptions.park(subscription.name, event, attempts: attempt, error: failure.description)
                    logger.warning(
                        "event parked as a dead letter",
                        metadata: ["event.position": "\(event.position)", "attempts": "\(attempt)", "error": "\(failure)"])
                    return true
                }
                logger.notice("delivery failed; will retry", metadata: ["event.position": "\(event.position)", "attempt": "\(attempt)", "error": "\(failure)"])
                try await Task.sleep(for: Self.backoff(afterAttempt: attempt))
                attempt += 1
            }
        }
    }

    /// 100 ms, 200 ms, 400 ms, … capped at 5 s.
    static func backoff(afterAttempt attempt: Int) -> Duration {
        min(initialBackoff * (1 << min(attempt - 1, 16)), maxBackoff)
    }

    /// One POST of the event (`EventView` JSON, `Sagaflow-Event-Position` header); 2xx is success. For the saga
    /// callbacks, the URL is the saga's `callbackUrl` (none: nothing to do) and the body says how the saga ended.
    private func deliver(_ event: RecordedEvent, to subscription: Subscription) async -> Result<Void, DeliveryFailure> {
        let headers = [("Sagaflow-Event-Position", "\(event.position)"), ("Sagaflow-Subscription", subscription.name)]
        do {
            let response: HTTPClientResponse
            if subscription.name == Self.callbacks.name {
                let sagaId = String(event.stream.dropFirst("saga-".count))
                guard let url = try await subscriptions.callback(sagaId: sagaId) else { return .success(()) }
                let status = ["SagaCompleted": "completed", "SagaCompensated": "compensated", "SagaFailed": "failed"][event.type]
                response = try await client.post(
                    url, json: SagaEnded(sagaId: sagaId, status: status ?? event.type, event: EventView(event)), headers: headers,
                    timeout: Self.deliveryTimeout)
            } else {
                response = try await client.post(subscription.url, json: EventView(event), headers: headers, timeout: Self.deliveryTimeout)
            }
            guard (200..<300).contains(response.status) else {
                return .failure(DeliveryFailure(description: "HTTP \(response.status)"))
            }
            return .success(())
        } catch {
            return .failure(DeliveryFailure(description: "\(error)"))
        }
    }
}

/// The body of a saga's `callbackUrl` call.
struct SagaEnded: Encodable {
    var sagaId: String
    var status: String
    var event: EventView
}

/// Why a delivery failed, as the subscription's status and dead letters show it.
struct DeliveryFailure: Error, CustomStringConvertible {
    var description: String
}
