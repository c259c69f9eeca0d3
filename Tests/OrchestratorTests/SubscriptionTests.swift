import Foundation
import SagaHTTP
import SagaProtocol
import Synchronization
import Testing
import TestSupport

/// A webhook subscriber on a free port: verifies signatures, records each delivery, answers as `answer` says.
final class Subscriber: Sendable {
    struct Delivery: Sendable {
        var position: Int64
        var type: String
        var at: ContinuousClock.Instant
    }

    let server: HTTPServer
    let task: Task<Void, any Error>
    final class Log: Sendable { let items = Mutex<[Delivery]>([]) }
    let log = Log()

    init(secret: String, answer: @escaping @Sendable (_ position: Int64) -> Int = { _ in 204 }) async throws {
        var router = Router()
        let log = self.log
        router.post("/hook", signed: true) { request in
            let body = try request.decode(JSONValue.self)
            let event = body["event"] ?? body  // a saga callback wraps the event
            let position = Int64(request.header("Sagaflow-Event-Position") ?? "") ?? -1
            #expect(event["position"]?.intValue.map(Int64.init) == position)
            log.items.withLock { $0.append(Delivery(position: position, type: event["type"]?.stringValue ?? "?", at: .now)) }
            return HTTPResponse(status: answer(position))
        }
        server = try await HTTPServer.bind(
            configuration: HTTPServerConfiguration(verifier: SignatureVerifier(SigningSecrets(secret)!)), router: router,
            logger: quietLogger("subscriber"))
        task = Task { [server] in try await server.run() }
    }

    var url: String { "http://127.0.0.1:\(server.port)/hook" }
    var received: [Delivery] { log.items.withLock { $0 } }

    func stop() async {
        try? await server.shutdown()
        _ = await task.result
    }
}

@Suite struct SubscriptionTests {
    let order: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 10]

    func subscribe(_ cluster: ClusterFixture, _ body: JSONValue) async throws -> HTTPClientResponse {
        try await cluster.client.post("\(cluster.orchestratorURL)/subscriptions", json: body)
    }

    func status(_ cluster: ClusterFixture, _ name: String) async throws -> JSONValue {
        try await cluster.client.get("\(cluster.orchestratorURL)/subscriptions/\(name)").decode(JSONValue.self)
    }

    /// Positions of the log's events of `types`, in log order.
    func logPositions(_ cluster: ClusterFixture, types: Set<String>) async throws -> [Int64] {
        let events = try await cluster.client.get("\(cluster.orchestratorURL)/events?limit=1000").decode([JSONValue].self)
        return events.filter { types.contains($0["type"]?.stringValue ?? "") }.compactMap { $0["position"]?.intValue.map(Int64.init) }
    }

    @Test func aFilteredWebhookGetsExactlyItsEventsInOrderAcrossAnOrchestratorRestart() async throws {
        let cluster = try await ClusterFixture.start()
        let subscriber = try await Subscriber(secret: cluster.secret)
        let types: Set<String> = ["SagaStarted", "SagaCompleted"]
        let created = try await subscribe(
            cluster, ["name": "ends", "url": .string(subscriber.url), "filter": ["types": ["SagaStarted", "SagaCompleted"]], "fromPosition": 0])
        #expect(created.status == 201)

        _ = try await cluster.placeOrder(order)
        try await waitUntil("the first saga's events delivered") { subscriber.received.count >= 2 }
        var checkpoints = [try await status(cluster, "ends")["checkpoint"]?.intValue ?? -1]

        // Restart the orchestrator while more sagas' events are being delivered.
        let second = try await cluster.placeOrder(order, wait: false)
        await cluster.stopOrchestrator()
        try await cluster.startOrchestrator()
        checkpoints.append(try await status(cluster, "ends")["checkpoint"]?.intValue ?? -1)
        _ = try await cluster.placeOrder(order)
        try await waitUntil("saga \(second.id) ended") { try await cluster.saga(second.id).status == .completed }

        let expected = try await logPositions(cluster, types: types)
        #expect(expected.count == 6)
        try await waitUntil("every matching event delivered", timeout: .seconds(20)) {
            Set(subscriber.received.map(\.position)) == Set(expected)
        }
        checkpoints.append(try await status(cluster, "ends")["checkpoint"]?.intValue ?? -1)
        let received = subscriber.received
        #expect(received.allSatisfy { types.contains($0.type) }, "only the filtered types")
        var firstSeen: [Int64] = []
        for delivery in received where !firstSeen.contains(delivery.position) { firstSeen.append(delivery.position) }
        #expect(firstSeen == expected, "first deliveries in log order")
        #expect(checkpoints == checkpoints.sorted(), "the checkpoint never goes backwards: \(checkpoints)")
        #expect(try await status(cluster, "ends")["delivered"]?.intValue ?? 0 >= 6)

        #expect(try await cluster.client.delete("\(cluster.orchestratorURL)/subscriptions/ends").status == 204)
        #expect(try await cluster.client.get("\(cluster.orchestratorURL)/subscriptions/ends").status == 404)
        await subscriber.stop()
        await cluster.stop()
    }

    @Test func aFailingSubscriberGetsBackoffThenADeadLetterThatReplaysLater() async throws {
        let cluster = try await ClusterFixture.start()
        let failing = Mutex<Int64?>(nil)
        let subscriber = try await Subscriber(secret: cluster.secret) { position in
            failing.withLock { $0 } == position ? 500 : 204
        }
        // The first SagaStarted after the subscription is refused until the subscriber recovers.
        let head = try await cluster.client.get("\(cluster.orchestratorURL)/events?limit=1000").decode([JSONValue].self).count
        failing.withLock { $0 = Int64(head + 1) }
        let created = try await subscribe(
            cluster, ["name": "flaky", "url": .string(subscriber.url), "filter": ["types": ["SagaStarted", "SagaCompleted"]], "maxAttempts": 4])
        #expect(created.status == 201)
        _ = try await cluster.placeOrder(order)
        let refused = try #require(failing.withLock { $0 })

        try await waitUntil("the refused event parked and the next one delivered", timeout: .seconds(20)) {
            subscriber.received.contains { $0.type == "SagaCompleted" }
        }
        let attempts = subscriber.received.filter { $0.position == refused }
        #expect(attempts.count == 4, "maxAttempts deliveries")
        let gaps = zip(attempts.dropFirst(), attempts).map { $0.at - $1.at }
        // Backoff 100, 200, 400 ms: each gap is at least its delay (more under load, so no upper bound here).
        #expect(gaps.count == 3 && zip(gaps, [100, 200, 400]).allSatisfy { $0 >= .milliseconds($1 - 5) }, "growing delays: \(gaps)")
        let letters = try await cluster.client.get("\(cluster.orchestratorURL)/subscriptions/flaky/dead-letters").decode([JSONValue].self)
        #expect(letters.map { $0["position"]?.intValue } == [Int(refused)])
        #expect(letters.first?["attempts"]?.intValue == 4)
        #expect(try await status(cluster, "flaky")["lastError"]?.stringValue?.contains("HTTP 500") == true)

        let replay = "\(cluster.orchestratorURL)/subscriptions/flaky/dead-letters/\(refused)/replay"
        let stillFailing = try await cluster.client.post(replay, json: JSONValue.emptyObject)
        #expect(stillFailing.status == 502)
        failing.withLock { $0 = nil }
        let replayed = try await cluster.client.post(replay, json: JSONValue.emptyObject)
        #expect(replayed.status == 200)
        #expect(subscriber.received.filter { $0.position == refused }.count == 6, "4 attempts, a refused replay, a delivered one")
        #expect(try await cluster.client.get("\(cluster.orchestratorURL)/subscriptions/flaky/dead-letters").decode([JSONValue].self).isEmpty)
        await subscriber.stop()
        await cluster.stop()
    }

    @Test func aCallbackUrlIsCalledOncePerSagaEndThroughFailures() async throws {
        let cluster = try await ClusterFixture.start()
        let refusals = Mutex(2)
        let subscriber = try await Subscriber(secret: cluster.secret) { _ in
            refusals.withLock { left in
                defer { left -= 1 }
                return left > 0 ? 503 : 200
            }
        }
        let body: JSONValue = ["type": "place-order", "input": order, "callbackUrl": .string(subscriber.url)]
        let started = try await cluster.client.post("\(cluster.orchestratorURL)/sagas", json: body, headers: [("Prefer", "wait=30")])
        let saga = try started.decode(JSONValue.self)
        #expect(saga["status"]?.stringValue == "completed", "Prefer: wait answers with the final state")
        let sagaId = try #require(saga["id"]?.stringValue)
        let end = try #require(try await logPositions(cluster, types: ["SagaCompleted"]).last)

        try await waitUntil("the callback accepted", timeout: .seconds(20)) {
            try await status(cluster, "_saga-callbacks")["checkpoint"]?.intValue ?? 0 >= Int(end)
        }
        let calls = subscriber.received
        #expect(calls.map(\.position) == [end, end, end], "two refusals, then the one accepted call")
        #expect(calls.allSatisfy { $0.type == "SagaCompleted" })
        // Sagas without a callbackUrl are not called back; a bad callbackUrl is refused up front.
        _ = try await cluster.placeOrder(order)
        let bad = try await cluster.client.post(
            "\(cluster.orchestratorURL)/sagas", json: ["type": "place-order", "input": order, "callbackUrl": "mailto:ops@example.com"] as JSONValue)
        #expect(bad.status == 400)
        #expect(try bad.decode(Problem.self).field == "callbackUrl")
        let head = try await cluster.client.get("\(cluster.orchestratorURL)/events?limit=1000").decode([JSONValue].self).count
        try await waitUntil("the callbacks caught up", timeout: .seconds(20)) {
            try await status(cluster, "_saga-callbacks")["checkpoint"]?.intValue ?? 0 >= head
        }
        #expect(subscriber.received.count == 3, "saga \(sagaId) only")
        await subscriber.stop()
        await cluster.stop()
    }

    @Test func badSubscriptionsGetClearErrors() async throws {
        let cluster = try await ClusterFixture.start()
        let cases: [(JSONValue, Int, String)] = [
            (["name": "a", "url": "ftp://example.com/hook"], 400, "url"),
            (["name": "a", "url": "not a url"], 400, "url"),
            (["name": "a", "url": "http://127.0.0.1:9/hook", "filter": ["colour": "red"]], 400, "filter.colour"),
            (["name": "a", "url": "http://127.0.0.1:9/hook", "filter": ["types": "SagaStarted"]], 400, "filter.types"),
            (["name": "", "url": "http://127.0.0.1:9/hook"], 400, "name"),
            (["name": "a", "url": "http://127.0.0.1:9/hook", "retries": 3], 400, "retries"),
        ]
        for (body, status, field) in cases {
            let response = try await subscribe(cluster, body)
            #expect(response.status == status, "\(body)")
            #expect(try response.decode(Problem.self).field == field, "\(body)")
        }
        #expect(try await subscribe(cluster, ["name": "a", "url": "http://127.0.0.1:9/hook"]).status == 201)
        let duplicate = try await subscribe(cluster, ["name": "a", "url": "http://127.0.0.1:9/other"])
        #expect(duplicate.status == 409)
        #expect(try duplicate.decode(Problem.self).code == "subscription_exists")
        await cluster.stop()
    }
}
