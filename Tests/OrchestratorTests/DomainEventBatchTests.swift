import Foundation
import SagaHTTP
import SagaProtocol
import Testing
import TestSupport

/// `POST /events` with an array: what a participant's relay sends when its outbox holds several events.
@Suite struct DomainEventBatchTests {
    func event(_ id: String, stream: String, n: Int) -> DomainEvent {
        DomainEvent(id: id, type: "Counted", stream: stream, data: ["n": .number(Double(n))], occurredAt: Date())
    }

    @Test func aBatchIsAppendedOnceInStreamOrder() async throws {
        let cluster = try await ClusterFixture.start()
        let signed = cluster.signedClient
        let url = "\(cluster.orchestratorURL)/events"
        let batch = [
            event("e-1", stream: "counter-a", n: 1), event("e-2", stream: "counter-b", n: 1), event("e-3", stream: "counter-a", n: 2),
            event("e-1", stream: "counter-a", n: 1), event("e-4", stream: "counter-a", n: 3),
        ]
        let first = try await signed.post(url, json: batch)
        #expect(first.status == 201)
        #expect(try first.decode(JSONValue.self) == ["appended": 4, "duplicates": 1])

        let again = try await signed.post(url, json: Array(batch.prefix(3)) + [event("e-5", stream: "counter-b", n: 2)])
        #expect(try again.decode(JSONValue.self) == ["appended": 1, "duplicates": 3])
        let single = try await signed.post(url, json: batch[1])
        #expect(single.status == 200)
        #expect(try single.decode(JSONValue.self) == ["status": "duplicate"])

        let log = try await cluster.client.get("\(cluster.orchestratorURL)/events?after=0&limit=1000").decode([JSONValue].self)
        func counts(_ stream: String) -> [Int] {
            log.filter { $0["stream"]?.stringValue == stream }.compactMap { $0["data"]?["n"]?.intValue }
        }
        #expect(counts("counter-a") == [1, 2, 3])
        #expect(counts("counter-b") == [1, 2])
        signed.shutdown()
        await cluster.stop()
    }

    @Test func aBadEventRefusesTheWholeBatch() async throws {
        let cluster = try await ClusterFixture.start()
        let signed = cluster.signedClient
        let url = "\(cluster.orchestratorURL)/events"
        let head = try await cluster.client.get("\(cluster.orchestratorURL)/events?after=0&limit=1000").decode([JSONValue].self).count

        let reserved = try await signed.post(url, json: [event("e-1", stream: "counter-a", n: 1), event("e-2", stream: "saga-x", n: 1)])
        #expect(reserved.status == 400)
        #expect(try reserved.decode(Problem.self).field == "[1].stream")
        let tooMany = try await signed.post(url, json: (0..<513).map { event("e-\($0)", stream: "counter-a", n: $0) })
        #expect(tooMany.status == 413)
        #expect(try tooMany.decode(Problem.self).code == "batch_too_large")
        let malformed = try await signed.execute(
            HTTPClientRequest(method: "POST", url: url, body: Array(#"[{"id":"e-9"}]"#.utf8)), timeout: .seconds(5))
        #expect(malformed.status == 400)
        #expect(try malformed.decode(Problem.self).code == "invalid_field")

        let after = try await cluster.client.get("\(cluster.orchestratorURL)/events?after=0&limit=1000").decode([JSONValue].self).count
        #expect(after == head, "nothing of a refused batch is appended")
        signed.shutdown()
        await cluster.stop()
    }
}
