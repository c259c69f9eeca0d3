import BookingService
import Foundation
import OrdersService
import PaymentsService
import SagaHTTP
import SagaProtocol
import Testing
import TestSupport

/// The real `orchestrator` executable crashed at each named point, then restarted on the same data.
@Suite struct CrashPointTests {
    @Test(arguments: ["before-append", "after-append-dispatch", "after-dispatch", "after-reply-append"])
    func sagaFinishesOnceAfterACrashAt(point: String) async throws {
        let cluster = try await ClusterFixture.start(startOrchestrator: false)
        let binary = "\(binaryDirectory())/orchestrator"
        var environment = cluster.orchestratorEnvironment
        environment["SAGAFLOW_CRASH_AT"] = point
        var process = try ChildProcess.launch(binary, environment: environment)
        var url = try await process.waitForPort()
        let body: JSONValue = [
            "type": "place-order", "idempotencyKey": .string("crash-\(point)"),
            "input": ["customerId": "bob", "eventId": "club", "seats": 2, "amount": 1000],
        ]
        _ = try? await cluster.client.post("\(url)/sagas", json: body)
        #expect(try await process.waitForExit() == 87, "the crash point was hit")

        environment["SAGAFLOW_CRASH_AT"] = nil
        process = try ChildProcess.launch(binary, environment: environment)
        url = try await process.waitForPort()
        let response = try await cluster.client.post("\(url)/sagas", json: body, headers: [("Prefer", "wait=20")], timeout: .seconds(30))
        #expect([200, 201].contains(response.status))
        let saga = try response.decode(SagaSnapshot.self)
        #expect(saga.status == .completed)

        let orders = try await cluster.client.get("\(cluster.url("orders"))/orders").decode([OrdersService.Order].self)
        #expect(orders.map(\.status) == ["approved"], "one order, approved once")
        #expect(try await cluster.client.get("\(cluster.url("payments"))/accounts/bob").decode(PaymentsService.Account.self).balance == 4000)
        #expect(try await cluster.client.get("\(cluster.url("payments"))/payments?customerId=bob").decode([PaymentsService.Payment].self).count == 1)
        #expect(try await cluster.client.get("\(cluster.url("booking"))/inventory/club").decode(BookingService.Inventory.self).reserved == 2)
        process.terminate()
        try await process.waitForExit()
        await cluster.stop()
    }
}
