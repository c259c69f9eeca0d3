import BookingService
import Foundation
import OrdersService
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Testing
import TestSupport

/// One valid first command per participant, and a way to count its effect.
struct ServiceCase: Sendable, CustomStringConvertible {
    var definition: ParticipantDefinition
    var action: String
    var compensation: String
    var step: String
    var payload: JSONValue
    /// How many times the action's effect is visible through the service's own API.
    var effectCount: @Sendable (HTTPClient, String) async throws -> Int

    var description: String { definition.name }

    static let all: [ServiceCase] = [
        ServiceCase(
            definition: OrdersService.definition, action: "CreateOrder", compensation: "CancelOrder", step: "create-order",
            payload: ["orderId": "o-1", "customerId": "alice", "eventId": "concert", "seats": 2, "amount": 1500],
            effectCount: { client, url in
                try await client.get("\(url)/orders?status=pending").decode([OrdersService.Order].self).count
            }),
        ServiceCase(
            definition: PaymentsService.definition, action: "AuthorizePayment", compensation: "RefundPayment",
            step: "authorize-payment", payload: ["orderId": "o-1", "customerId": "alice", "amount": 1500],
            effectCount: { client, url in
                let balance = try await client.get("\(url)/accounts/alice").decode(PaymentsService.Account.self).balance
                return (1_000_000 - balance) / 1500
            }),
        ServiceCase(
            definition: BookingService.definition, action: "ReserveSeats", compensation: "ReleaseSeats", step: "reserve-seats",
            payload: ["orderId": "o-1", "eventId": "concert", "seats": 2],
            effectCount: { client, url in
                try await client.get("\(url)/inventory/concert").decode(BookingService.Inventory.self).reserved / 2
            }),
    ]
}

@Suite struct IdempotencyTests {
    @Test(arguments: ServiceCase.all, [2, 10])
    func sameCommandConcurrentlyAppliesOnce(service: ServiceCase, copies: Int) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(service.definition, directory: dir.path)
        let client = HTTPClient()
        let command = CommandFactory().command(service.action, step: service.step, payload: service.payload)
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            for _ in 0..<copies { group.addTask { try await client.send(command, to: fixture.url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.count == copies)
        #expect(Set(try replies.map { try JSONCoding.encode($0) }).count == 1, "every copy gets the identical reply")
        #expect(replies.first?.outcome == .succeeded)
        #expect(try await service.effectCount(client, fixture.url) == 1)
        await fixture.stop()
        client.shutdown()
    }

    @Test(arguments: ServiceCase.all)
    func compensationBeforeActionLeavesTombstone(service: ServiceCase) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(service.definition, directory: dir.path)
        let client = HTTPClient()
        let saga = CommandFactory()
        let compensation = saga.command(service.compensation, step: service.step, kind: .compensation, payload: service.payload)
        let undo = try await client.send(compensation, to: fixture.url)
        #expect(undo.outcome == .succeeded, "compensating an action never seen succeeds as a no-op")
        let late = try await client.send(saga.command(service.action, step: service.step, payload: service.payload), to: fixture.url)
        #expect(late.outcome == .failed)
        #expect(late.error?.code == "compensated")
        #expect(try await service.effectCount(client, fixture.url) == 0)
        await fixture.stop()
        client.shutdown()
    }

    @Test(arguments: ServiceCase.all)
    func compensationUndoesOnceHoweverOftenSent(service: ServiceCase) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(service.definition, directory: dir.path)
        let client = HTTPClient()
        let saga = CommandFactory()
        let done = try await client.send(saga.command(service.action, step: service.step, payload: service.payload), to: fixture.url)
        #expect(done.outcome == .succeeded)
        let compensation = saga.command(service.compensation, step: service.step, kind: .compensation, payload: service.payload)
        let copies = [compensation, compensation, compensation,
            saga.command(service.compensation, step: service.step, kind: .compensation, payload: service.payload)]
        try await withThrowingTaskGroup(of: Reply.self) { group in
            for command in copies { group.addTask { try await client.send(command, to: fixture.url) } }
            for try await reply in group { #expect(reply.outcome == .succeeded) }
        }
        if service.definition.name != "orders" {
            #expect(try await service.effectCount(client, fixture.url) == 0, "effect undone exactly once")
        } else {
            let orders = try await client.get("\(fixture.url)/orders?status=cancelled").decode([OrdersService.Order].self)
            #expect(orders.count == 1)
        }
        await fixture.stop()
        client.shutdown()
    }

    @Test func unknownCommandTypeIsRefusedWithoutEffect() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = try await ParticipantFixture.start(PaymentsService.definition, directory: dir.path)
        let client = HTTPClient()
        let command = CommandFactory().command("ChargeTwice", step: "x", payload: [:])
        let response = try await client.post("\(fixture.url)/commands", json: command)
        #expect(response.status == 422)
        #expect(try response.decode(Problem.self).code == "unknown_command")
        let badPayload = CommandFactory().command("AuthorizePayment", step: "authorize-payment", payload: ["orderId": "o"])
        let bad = try await client.post("\(fixture.url)/commands", json: badPayload)
        #expect(bad.status == 400)
        #expect(try bad.decode(Problem.self).field == "payload.customerId")
        #expect(try await client.get("\(fixture.url)/accounts/alice").decode(PaymentsService.Account.self).balance == 1_000_000)
        await fixture.stop()
        client.shutdown()
    }
}
