import Foundation
import SagaHTTP
import SagaProtocol
import Testing
import TestSupport

@Suite struct ApiInputTests {
    @Test func badRequestsGetClearProblems() async throws {
        let cluster = try await ClusterFixture.start()
        let url = cluster.orchestratorURL
        let client = cluster.client

        let unknownType = try await client.post("\(url)/sagas", json: ["type": "launch-rocket", "input": [:]] as JSONValue)
        #expect(unknownType.status == 422)
        #expect(try unknownType.decode(Problem.self).code == "unknown_saga_type")

        let malformed = try await client.execute(
            HTTPClientRequest(method: "POST", url: "\(url)/sagas", body: Array("{\"type\":".utf8)), timeout: .seconds(5))
        #expect(malformed.status == 400)
        #expect(try malformed.decode(Problem.self).code == "invalid_json")

        let missingInput = try await client.post("\(url)/sagas", json: ["type": "place-order"] as JSONValue)
        #expect(missingInput.status == 400)
        #expect(try missingInput.decode(Problem.self).field == "input")

        let unknownSaga = try await client.get("\(url)/sagas/s-nope")
        #expect(unknownSaga.status == 404)
        #expect(try unknownSaga.decode(Problem.self).code == "not_found")
        await cluster.stop()
    }

    @Test func forgedAndUnknownRepliesChangeNothing() async throws {
        let cluster = try await ClusterFixture.start()
        let saga = try await cluster.placeOrder(["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 10])
        let before = try await cluster.client.get("\(cluster.orchestratorURL)/sagas/\(saga.id)/events").decode([JSONValue].self)
        let forged = Reply(commandId: "c-forged", sagaId: saga.id, step: "approve-order", outcome: .failed, error: ReplyError(code: "x", message: "y"))

        let unsigned = try await cluster.client.post("\(cluster.orchestratorURL)/replies", json: forged)
        #expect(unsigned.status == 401)
        let signed = cluster.signedClient
        let unknownCommand = try await signed.post("\(cluster.orchestratorURL)/replies", json: forged)
        #expect(unknownCommand.status == 409)
        #expect(try unknownCommand.decode(Problem.self).code == "unknown_command")
        var elsewhere = forged
        elsewhere.sagaId = "s-missing"
        #expect(try await signed.post("\(cluster.orchestratorURL)/replies", json: elsewhere).status == 404)

        let after = try await cluster.client.get("\(cluster.orchestratorURL)/sagas/\(saga.id)/events").decode([JSONValue].self)
        #expect(after == before)
        #expect(try await cluster.saga(saga.id).status == .completed)
        signed.shutdown()
        await cluster.stop()
    }

    @Test func idempotencyKeyReturnsTheSameSaga() async throws {
        let cluster = try await ClusterFixture.start()
        let body: JSONValue = [
            "type": "place-order", "idempotencyKey": "k-1",
            "input": ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 10],
        ]
        let first = try await cluster.client.post("\(cluster.orchestratorURL)/sagas", json: body, headers: [("Prefer", "wait=10")])
        let second = try await cluster.client.post("\(cluster.orchestratorURL)/sagas", json: body)
        #expect(first.status == 201)
        #expect(second.status == 200)
        #expect(try first.decode(SagaSnapshot.self).id == second.decode(SagaSnapshot.self).id)
        let payments = try await cluster.client.get("\(cluster.url("payments"))/payments?customerId=alice").decode([JSONValue].self)
        #expect(payments.count == 1)
        await cluster.stop()
    }
}
