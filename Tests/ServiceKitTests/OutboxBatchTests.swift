import BookingService
import Foundation
import Logging
import SagaHTTP
import SagaProtocol
@testable import ServiceKit
import Synchronization
import Testing
import TestSupport

/// Stands in for the orchestrator's `POST /events`: records each request's events; can hold the first request
/// until released, and can refuse arrays (as an orchestrator without batch support would, with a 400).
final class EventsReceiver: Sendable {
    struct State {
        var holding = true
        var requests: [[DomainEvent]] = []
        var refusedArrays = 0
    }

    final class Shared: Sendable {
        let state = Mutex(State())
    }

    let shared = Shared()
    let server: HTTPServer
    let serving: Task<Void, any Error>

    init(refuseArrays: Bool) async throws {
        var router = Router()
        let shared = self.shared
        router.post("/events") { request in
            let isArray = request.body.first == UInt8(ascii: "[")
            if isArray && refuseArrays {
                shared.state.withLock { $0.refusedArrays += 1 }
                return HTTPResponse(status: 400)
            }
            let events = isArray ? try request.decode([DomainEvent].self) : [try request.decode(DomainEvent.self)]
            let first = shared.state.withLock { state in
                state.requests.append(events)
                return state.requests.count == 1
            }
            while first, shared.state.withLock({ $0.holding }) { try await Task.sleep(for: .milliseconds(5)) }
            return HTTPResponse(status: 201)
        }
        let server = try await HTTPServer.bind(configuration: HTTPServerConfiguration(), router: router, logger: Logger(label: "events"))
        self.server = server
        serving = Task { try await server.run() }
    }

    var baseURL: String { "http://127.0.0.1:\(server.port)" }
    var received: [DomainEvent] { shared.state.withLock { $0.requests.flatMap { $0 } } }

    func stop() async throws {
        try await server.shutdown()
        _ = await serving.result
    }
}

@Suite struct OutboxBatchTests {
    /// Runs booking with its events going to a receiver; reserves seats for `count` sagas, the first while the
    /// receiver holds its event and the rest meanwhile; releases the receiver and waits until every event arrived
    /// and the outbox drained. Returns the receiver and the outbox's final state.
    func reserveWhileTheFirstEventIsHeld(_ count: Int, refuseArrays: Bool) async throws -> (EventsReceiver, OutboxStatus) {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let receiver = try await EventsReceiver(refuseArrays: refuseArrays)
        let client = HTTPClient()
        let fixture = try await ParticipantFixture.start(
            BookingService.definition, directory: dir.path, environment: ["ORCHESTRATOR_URL": receiver.baseURL])
        for index in 0..<count {
            let command = CommandFactory().command(
                "ReserveSeats", step: "reserve-seats", payload: ["orderId": .string("o-\(index)"), "eventId": "concert", "seats": 1])
            #expect(try await client.send(command, to: fixture.url).outcome == .succeeded)
            if index == 0 { try await waitUntil("the first event to arrive") { !receiver.received.isEmpty } }
        }
        receiver.shared.state.withLock { $0.holding = false }
        try await waitUntil("every event to arrive") { receiver.received.count == count }
        try await waitUntil("the outbox to drain") { try await client.get("\(fixture.url)/outbox").decode(OutboxStatus.self).pending == 0 }
        let outbox = try await client.get("\(fixture.url)/outbox").decode(OutboxStatus.self)
        await fixture.stop()
        try await receiver.stop()
        client.shutdown()
        return (receiver, outbox)
    }

    @Test func eventsThatWaitedGoInOneRequest() async throws {
        let (receiver, _) = try await reserveWhileTheFirstEventIsHeld(5, refuseArrays: false)
        #expect(receiver.shared.state.withLock { $0.requests.map(\.count) } == [1, 4])
        #expect(Set(receiver.received.map(\.id)).count == 5)
    }

    @Test func aRefusedBatchIsDeliveredOneByOneAndNothingIsParked() async throws {
        let (receiver, outbox) = try await reserveWhileTheFirstEventIsHeld(4, refuseArrays: true)
        #expect(receiver.shared.state.withLock { $0.refusedArrays } == 1)
        #expect(receiver.shared.state.withLock { $0.requests.map(\.count) } == [1, 1, 1, 1])
        #expect(outbox.parked == 0)
    }
}

@Suite struct OutgoingDomainEventTests {
    struct Seats: Codable, Equatable {
        var eventId: String
        var seats: Int
        var note: String?
    }

    @Test func encodesAsTheDomainEventItStandsFor() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let data = Seats(eventId: "club", seats: 3, note: nil)
        let outgoing = OutgoingDomainEvent(
            id: "e-1", type: "SeatsReserved", stream: "reservation-r-1", data: data, causationId: "c-1", correlationId: nil,
            occurredAt: now)
        let decoded = try JSONCoding.decode(DomainEvent.self, from: try JSONCoding.encode(outgoing))
        let expected = DomainEvent(
            id: "e-1", type: "SeatsReserved", stream: "reservation-r-1", data: try JSONValue(encoding: data), causationId: "c-1",
            occurredAt: now)
        #expect(decoded == expected)
        #expect(try JSONCoding.encode(outgoing) == JSONCoding.encode(expected), "the same bytes as before")
    }
}
