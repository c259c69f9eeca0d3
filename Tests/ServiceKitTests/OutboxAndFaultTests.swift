import BookingService
import Foundation
import Logging
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Synchronization
import Testing
import TestSupport

/// A reply receiver that refuses (503) until told to accept, recording what it accepted.
final class ReplyReceiver: Sendable {
    final class State: Sendable {
        let accepting = Mutex(false)
        let received = Mutex<[Reply]>([])
    }

    let state = State()
    let server: HTTPServer
    let serving: Task<Void, any Error>

    init() async throws {
        var router = Router()
        let state = self.state
        router.post("/replies") { request in
            guard state.accepting.withLock({ $0 }) else { return HTTPResponse(status: 503) }
            let reply = try request.decode(Reply.self)
            state.received.withLock { $0.append(reply) }
            return HTTPResponse(status: 204)
        }
        let server = try await HTTPServer.bind(configuration: HTTPServerConfiguration(), router: router, logger: Logger(label: "receiver"))
        self.server = server
        serving = Task { try await server.run() }
    }

    func stop() async throws {
        try await server.shutdown()
        _ = await serving.result
    }

    var url: String { "http://127.0.0.1:\(server.port)/replies" }
}

@Suite struct OutboxAndFaultTests {
    @Test func asynchronousReplySurvivesRestartAndIsDelivered() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let receiver = try await ReplyReceiver()
        let client = HTTPClient()
        var fixture = try await ParticipantFixture.start(BookingService.definition, directory: dir.path, environment: ["REPLY_MODE": "async"])
        let command = CommandFactory().command(
            "ReserveSeats", step: "reserve-seats", payload: ["orderId": "o-1", "eventId": "club", "seats": 3], replyTo: receiver.url)
        let accepted = try await client.post("\(fixture.url)/commands", json: command)
        #expect(accepted.status == 202)
        try await waitUntil("a failed delivery attempt") {
            try await client.get("\(fixture.url)/outbox").decode(OutboxStatus.self).lastError != nil
        }
        await fixture.stop()

        receiver.state.accepting.withLock { $0 = true }
        fixture = try await ParticipantFixture.start(BookingService.definition, directory: dir.path, environment: ["REPLY_MODE": "async"])
        try await waitUntil("the reply to arrive after the restart") { receiver.state.received.withLock { !$0.isEmpty } }
        let reply = try #require(receiver.state.received.withLock { $0.first })
        #expect(reply.commandId == command.id)
        #expect(reply.outcome == .succeeded)
        try await waitUntil("the outbox to drain") {
            try await client.get("\(fixture.url)/outbox").decode(OutboxStatus.self).pending == 0
        }
        let again = try await client.send(command, to: fixture.url)
        #expect(again == reply, "a duplicate of an answered command gets the stored reply")
        #expect(try await client.get("\(fixture.url)/inventory/club").decode(BookingService.Inventory.self).reserved == 3)
        await fixture.stop()
        try await receiver.stop()
        client.shutdown()
    }

    @Test func adminFaultsMakeCommandsUnavailableUntilCleared() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let secret = "test-secret"
        let fixture = try await ParticipantFixture.start(
            PaymentsService.definition, directory: dir.path, environment: ["ADMIN_ENABLED": "true", "SAGAFLOW_SECRET": secret])
        let signed = HTTPClient(configuration: HTTPClientConfiguration(signer: RequestSigner(SigningSecrets(secret)!)))
        let unsigned = HTTPClient()
        let plan = FaultPlan(seed: 1, rules: [FaultRule(command: "*", unavailable: 1)])
        #expect(try await unsigned.put("\(fixture.url)/admin/faults", json: plan).status == 401)
        #expect(try await signed.put("\(fixture.url)/admin/faults", json: plan).status == 200)
        let command = CommandFactory().command(
            "AuthorizePayment", step: "authorize-payment", payload: ["orderId": "o-1", "customerId": "alice", "amount": 10])
        let refused = try await signed.post("\(fixture.url)/commands", json: command)
        #expect(refused.status == 503)
        #expect(try refused.decode(Problem.self).code == "unavailable")
        #expect(try await signed.delete("\(fixture.url)/admin/faults").status == 204)
        #expect(try await signed.send(command, to: fixture.url).outcome == .succeeded, "a 503 applied nothing, so the retry applies once")
        #expect(try await unsigned.post("\(fixture.url)/commands", json: command).status == 401)
        #expect(try await signed.get("\(fixture.url)/accounts/alice").decode(PaymentsService.Account.self).balance == 999_990)
        await fixture.stop()
        signed.shutdown()
        unsigned.shutdown()
    }

    @Test func droppedReplyAfterCommitIsRecoveredByRetry() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let faults = #"{"seed":7,"rules":[{"command":"AuthorizePayment","drop":"after-commit"}]}"#
        let fixture = try await ParticipantFixture.start(
            PaymentsService.definition, directory: dir.path, environment: ["SAGAFLOW_FAULTS": faults, "ADMIN_ENABLED": "true"])
        let client = HTTPClient()
        let command = CommandFactory().command(
            "AuthorizePayment", step: "authorize-payment", payload: ["orderId": "o-1", "customerId": "alice", "amount": 250])
        do {
            _ = try await client.post("\(fixture.url)/commands", json: command)
            Issue.record("expected the connection to be dropped")
        } catch {
            #expect(error.isOutcomeUnknown)
        }
        #expect(try await client.delete("\(fixture.url)/admin/faults").status == 204)
        let reply = try await client.send(command, to: fixture.url)
        #expect(reply.outcome == .succeeded)
        #expect(try await client.get("\(fixture.url)/accounts/alice").decode(PaymentsService.Account.self).balance == 999_750)
        await fixture.stop()
        client.shutdown()
    }
}
