import BookingService
import Foundation
import OrdersService
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Testing
import TestSupport

/// The orchestrator driving the real participants, in-process over loopback.
@Suite struct SagaFlowTests {
    let order: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 2, "amount": 1500]

    func orderState(_ cluster: ClusterFixture, _ saga: SagaSnapshot) async throws -> (order: OrdersService.Order, payments: [PaymentsService.Payment], reservations: [BookingService.Reservation]) {
        let orderId = try #require(saga.context["orderId"]?.stringValue)
        let order = try await cluster.client.get("\(cluster.url("orders"))/orders/\(orderId)").decode(OrdersService.Order.self)
        let payments = try await cluster.client.get("\(cluster.url("payments"))/payments?orderId=\(orderId)").decode([PaymentsService.Payment].self)
        let reservations = try await cluster.client.get("\(cluster.url("booking"))/reservations?orderId=\(orderId)")
            .decode([BookingService.Reservation].self)
        return (order, payments, reservations)
    }

    @Test func happyPathCompletesWithEveryEffectOnce() async throws {
        let cluster = try await ClusterFixture.start()
        let saga = try await cluster.placeOrder(order)
        #expect(saga.status == .completed)
        let state = try await orderState(cluster, saga)
        #expect(state.order.status == "approved")
        #expect(state.payments.map(\.status) == ["authorized"])
        #expect(state.reservations.map(\.status) == ["reserved"])
        #expect(try await cluster.saga(saga.id).status == .completed, "the view projection agrees")
        await cluster.stop()
    }

    @Test func soldOutCompensatesWithRefundAndCancelledOrder() async throws {
        let cluster = try await ClusterFixture.start()
        let saga = try await cluster.placeOrder(["customerId": "alice", "eventId": "club", "seats": 11, "amount": 700])
        #expect(saga.status == .compensated)
        let state = try await orderState(cluster, saga)
        #expect(state.order.status == "cancelled")
        #expect(state.payments.map(\.status) == ["refunded"])
        #expect(state.reservations.isEmpty)
        #expect(try await cluster.client.get("\(cluster.url("payments"))/accounts/alice").decode(PaymentsService.Account.self).balance == 1_000_000)
        await cluster.stop()
    }

    @Test func insufficientFundsCompensates() async throws {
        let cluster = try await ClusterFixture.start()
        let saga = try await cluster.placeOrder(["customerId": "carol", "eventId": "concert", "seats": 1, "amount": 100])
        #expect(saga.status == .compensated)
        #expect(saga.step("authorize-payment")?.status == "failed")
        let state = try await orderState(cluster, saga)
        #expect(state.order.status == "cancelled")
        #expect(state.payments.isEmpty)
        await cluster.stop()
    }

    @Test func transientUnavailabilityIsRetriedWithTheSameCommand() async throws {
        let faults = #"{"seed":3,"rules":[{"command":"AuthorizePayment","unavailable":1,"times":2}]}"#
        let cluster = try await ClusterFixture.start(participantEnvironment: ["payments": ["SAGAFLOW_FAULTS": faults]])
        let saga = try await cluster.placeOrder(order)
        #expect(saga.status == .completed)
        #expect(saga.step("authorize-payment")?.attempts == 3)
        #expect(try await orderState(cluster, saga).payments.count == 1)
        await cluster.stop()
    }

    @Test func asynchronousBookingRepliesComplete() async throws {
        let cluster = try await ClusterFixture.start(participantEnvironment: ["booking": ["REPLY_MODE": "async"]])
        let saga = try await cluster.placeOrder(order)
        #expect(saga.status == .completed)
        #expect(try await orderState(cluster, saga).reservations.map(\.status) == ["reserved"])
        await cluster.stop()
    }

    @Test func orchestratorRestartMidSagaFinishesItOnce() async throws {
        let slow = #"{"seed":1,"rules":[{"command":"ReserveSeats","kind":"action","delayMs":1500}]}"#
        let cluster = try await ClusterFixture.start(participantEnvironment: ["booking": ["SAGAFLOW_FAULTS": slow]])
        let started = try await cluster.placeOrder(order, wait: false)
        try await waitUntil("reserve-seats to be dispatched") {
            try await cluster.saga(started.id).step("reserve-seats")?.attempts == 1
        }
        await cluster.stopOrchestrator()
        try await cluster.startOrchestrator()
        try await waitUntil("the saga to finish after the restart", timeout: .seconds(20)) {
            try await cluster.saga(started.id).status == .completed
        }
        let saga = try await cluster.saga(started.id)
        let state = try await orderState(cluster, saga)
        #expect(state.order.status == "approved")
        #expect(state.payments.count == 1)
        #expect(state.reservations.count == 1, "the re-sent ReserveSeats was deduplicated by its command id")
        let inventory = try await cluster.client.get("\(cluster.url("booking"))/inventory/concert").decode(BookingService.Inventory.self)
        #expect(inventory.reserved == 2)
        await cluster.stop()
    }
}
