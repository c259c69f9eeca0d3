import BookingService
import Foundation
import OrdersService
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Testing
import TestSupport

@Suite struct DomainRuleTests {
    @Test func insufficientFundsIsDefinitiveAndChangesNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(PaymentsService.definition, directory: dir.path)
        let client = HTTPClient()
        let reply = try await client.send(
            CommandFactory().command(
                "AuthorizePayment", step: "authorize-payment", payload: ["orderId": "o-1", "customerId": "bob", "amount": 6000]),
            to: fixture.url)
        #expect(reply.outcome == .failed)
        #expect(reply.error?.code == "insufficient_funds")
        #expect(try await client.get("\(fixture.url)/accounts/bob").decode(PaymentsService.Account.self).balance == 5000)
        #expect(try await client.get("\(fixture.url)/payments?orderId=o-1").decode([PaymentsService.Payment].self).isEmpty)
        await fixture.stop()
        client.shutdown()
    }

    @Test func soldOutIsDefinitiveAndChangesNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(BookingService.definition, directory: dir.path)
        let client = HTTPClient()
        let reply = try await client.send(
            CommandFactory().command("ReserveSeats", step: "reserve-seats", payload: ["orderId": "o-1", "eventId": "club", "seats": 11]),
            to: fixture.url)
        #expect(reply.error?.code == "sold_out")
        #expect(try await client.get("\(fixture.url)/inventory/club").decode(BookingService.Inventory.self).reserved == 0)
        await fixture.stop()
        client.shutdown()
    }

    @Test func balanceNeverGoesNegativeUnderConcurrentCharges() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(PaymentsService.definition, directory: dir.path)
        let client = HTTPClient()
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await client.send(
                        CommandFactory().command(
                            "AuthorizePayment", step: "authorize-payment",
                            payload: ["orderId": .string("o-\(index)"), "customerId": "bob", "amount": 1000]),
                        to: fixture.url)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.filter { $0.outcome == .succeeded }.count == 5)
        #expect(replies.filter { $0.error?.code == "insufficient_funds" }.count == 35)
        #expect(try await client.get("\(fixture.url)/accounts/bob").decode(PaymentsService.Account.self).balance == 0)
        await fixture.stop()
        client.shutdown()
    }

    @Test func seatsNeverOversoldUnderConcurrentReservations() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(BookingService.definition, directory: dir.path)
        let client = HTTPClient()
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            for index in 0..<30 {
                group.addTask {
                    try await client.send(
                        CommandFactory().command(
                            "ReserveSeats", step: "reserve-seats",
                            payload: ["orderId": .string("o-\(index)"), "eventId": "club", "seats": 1]),
                        to: fixture.url)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.filter { $0.outcome == .succeeded }.count == 10)
        let inventory = try await client.get("\(fixture.url)/inventory/club").decode(BookingService.Inventory.self)
        #expect(inventory.reserved == 10)
        let reservations = try await client.get("\(fixture.url)/reservations").decode([BookingService.Reservation].self)
        #expect(reservations.filter { $0.status == "reserved" }.map(\.seats).reduce(0, +) == inventory.reserved)
        await fixture.stop()
        client.shutdown()
    }

    @Test func approvingACancelledOrderIsRefused() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(OrdersService.definition, directory: dir.path)
        let client = HTTPClient()
        let saga = CommandFactory()
        let payload: JSONValue = ["orderId": "o-9", "customerId": "alice", "eventId": "club", "seats": 1, "amount": 100]
        #expect(try await client.send(saga.command("CreateOrder", step: "create-order", payload: payload), to: fixture.url).outcome == .succeeded)
        #expect(
            try await client.send(saga.command("CancelOrder", step: "create-order", kind: .compensation, payload: payload), to: fixture.url)
                .outcome == .succeeded)
        let approve = try await client.send(saga.command("ApproveOrder", step: "approve-order", payload: payload), to: fixture.url)
        #expect(approve.error?.code == "order_cancelled")
        #expect(try await client.get("\(fixture.url)/orders/o-9").decode(OrdersService.Order.self).status == "cancelled")
        await fixture.stop()
        client.shutdown()
    }
}
