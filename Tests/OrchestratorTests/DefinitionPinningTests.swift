import Foundation
import SagaHTTP
import SagaProtocol
import Testing
import TestSupport

@Suite struct DefinitionPinningTests {
    /// A saga keeps the definition it started with across a file change and a restart; new sagas take the new one.
    @Test func runningSagaKeepsItsDefinitionAfterTheFileChanges() async throws {
        let sagas = try TemporaryDirectory("sagaflow-sagas")
        defer { sagas.remove() }
        let file = "\(sagas.path)/place-order.yml"
        let original = try String(contentsOfFile: "\(ClusterFixture.sagasDirectory)/place-order.yml", encoding: .utf8)
        try original.write(toFile: file, atomically: true, encoding: .utf8)
        let slow = #"{"seed":1,"rules":[{"command":"ReserveSeats","kind":"action","delayMs":1000,"times":1}]}"#
        let cluster = try await ClusterFixture.start(
            participantEnvironment: ["booking": ["SAGAFLOW_FAULTS": slow]], sagasDirectory: sagas.path)
        let order: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 100]
        let old = try await cluster.placeOrder(order, wait: false)
        try await waitUntil("reserve-seats to be dispatched") {
            try await cluster.saga(old.id).step("reserve-seats")?.attempts == 1
        }
        await cluster.stopOrchestrator()

        // Version 2 drops the approval step.
        let approval = try #require(original.range(of: "  - name: approve-order"))
        try (String(original[..<approval.lowerBound]).replacingOccurrences(of: "version: 1", with: "version: 2"))
            .write(toFile: file, atomically: true, encoding: .utf8)
        try await cluster.startOrchestrator()

        try await waitUntil("the old saga to finish", timeout: .seconds(20)) { try await cluster.saga(old.id).status == .completed }
        let finished = try await cluster.saga(old.id)
        #expect(finished.steps.map(\.name).last == "approve-order")
        #expect(finished.step("approve-order")?.status == "succeeded")
        #expect(finished.definitionHash == old.definitionHash)

        let new = try await cluster.placeOrder(order)
        #expect(new.status == .completed)
        #expect(new.steps.map(\.name) == ["create-order", "authorize-payment", "reserve-seats"])
        #expect(new.definitionHash != old.definitionHash)
        await cluster.stop()
    }
}

@Suite struct ViewRebuildTests {
    /// Deleting the view database rebuilds it from position 0 into exactly what incremental updates built.
    @Test func rebuildingTheViewsFromTheLogGivesTheSameTables() async throws {
        let cluster = try await ClusterFixture.start()
        _ = try await cluster.placeOrder(["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 100])
        _ = try await cluster.placeOrder(["customerId": "carol", "eventId": "concert", "seats": 1, "amount": 100])
        _ = try await cluster.placeOrder(["customerId": "bob", "eventId": "club", "seats": 11, "amount": 100])
        let before = try await cluster.client.get("\(cluster.orchestratorURL)/sagas?limit=1000").decode(JSONValue.self)
        guard case .array(let items)? = before["items"] else { throw Problem.notFound("no items") }
        #expect(items.count == 3)
        let statsBefore = try await cluster.client.get("\(cluster.orchestratorURL)/stats").decode(JSONValue.self)
        guard case .array(let steps)? = statsBefore["steps"] else { throw Problem.notFound("no steps") }
        #expect(steps.compactMap { $0["step"]?.stringValue } == ["create-order", "authorize-payment", "reserve-seats", "approve-order"])
        let payment = steps[1]
        #expect(payment["succeeded"]?.intValue == 2 && payment["failed"]?.intValue == 1, "carol cannot pay: \(payment)")
        #expect(payment["compensations"]?.intValue == 1, "bob's payment refunded when the club is sold out")
        #expect(steps[0]["compensations"]?.intValue == 2 && steps[3]["succeeded"]?.intValue == 1)
        if case .number(let mean)? = payment["meanLatencyMs"] { #expect(mean >= 0) } else { Issue.record("no mean latency: \(payment)") }
        #expect(statsBefore["lag"]?.intValue == 0)
        await cluster.stopOrchestrator()
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: "\(cluster.directory.path)/orchestrator/views.sqlite\(suffix)")
        }
        try await cluster.startOrchestrator()
        let after = try await cluster.client.get("\(cluster.orchestratorURL)/sagas?limit=1000").decode(JSONValue.self)
        #expect(after == before)
        let statsAfter = try await cluster.client.get("\(cluster.orchestratorURL)/stats").decode(JSONValue.self)
        #expect(statsAfter["steps"] == statsBefore["steps"], "the rebuilt statistics equal the incremental ones")
        await cluster.stop()
    }
}
