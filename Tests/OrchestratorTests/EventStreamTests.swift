import Foundation
import SagaHTTP
import SagaProtocol
import Testing
import TestSupport

/// One server-sent event as a test reads it.
struct SentEvent: Equatable {
    var id: Int64
    var event: String
    var data: JSONValue
}

/// The events of a chunked `text/event-stream` body, in order (chunk framing removed, comments skipped).
func sentEvents(_ raw: [UInt8]) throws -> [SentEvent] {
    let crlf = Array("\r\n".utf8)
    guard let headEnd = raw.firstRange(of: crlf + crlf)?.upperBound else { return [] }
    // Undo chunked transfer coding: "<hex size>\r\n<bytes>\r\n" until a zero-size chunk or the end of what arrived.
    var rest = raw[headEnd...]
    var bytes: [UInt8] = []
    while let lineEnd = rest.firstRange(of: crlf), let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16),
        size > 0, rest.endIndex - lineEnd.upperBound >= size
    {
        bytes += rest[lineEnd.upperBound..<(lineEnd.upperBound + size)]
        rest = rest[(lineEnd.upperBound + size)...].dropFirst(2)
    }
    let payload = String(decoding: bytes, as: UTF8.self)
    return try payload.components(separatedBy: "\n\n").compactMap { frame -> SentEvent? in
        var fields: [String: String] = [:]
        for line in frame.split(separator: "\n") where !line.hasPrefix(":") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...].drop { $0 == " " })
        }
        guard let id = fields["id"].flatMap({ Int64($0) }), let event = fields["event"], let data = fields["data"] else { return nil }
        return SentEvent(id: id, event: event, data: try JSONCoding.decode(JSONValue.self, from: Data(data.utf8)))
    }
}

/// How many whole `SagaCompleted` events have arrived so far.
@Sendable func completed(_ raw: [UInt8]) -> Int {
    ((try? sentEvents(raw)) ?? []).filter { $0.event == "SagaCompleted" }.count
}

@Suite struct EventStreamTests {
    static let slowBooking = ["booking": ["SAGAFLOW_FAULTS": #"{"rules":[{"command":"ReserveSeats","delayMs":400}]}"#]]

    func openStream(_ cluster: ClusterFixture, _ target: String, headers: [(String, String)] = []) async throws -> RawHTTPConnection {
        let port = try #require(URL(string: cluster.orchestratorURL)?.port)
        let connection = try await RawHTTPConnection.connect(port: port)
        try await connection.send(RawHTTPConnection.request("GET", target, headers: [("Accept", "text/event-stream")] + headers))
        return connection
    }

    @Test func aSagaStreamShowsEveryEventLiveThenClosesAndResumesFromLastEventID() async throws {
        let cluster = try await ClusterFixture.start(participantEnvironment: Self.slowBooking)
        let saga = try await cluster.placeOrder(["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 10], wait: false)
        #expect(saga.status == .running, "the stream opens on a running saga")

        let live = try await openStream(cluster, "/sagas/\(saga.id)/events")
        let raw = try await live.readUntilClosed(within: .seconds(30))
        #expect(String(decoding: raw.prefix(200), as: UTF8.self).lowercased().contains("content-type: text/event-stream"))
        let events = try sentEvents(raw)
        let stored = try await cluster.client.get("\(cluster.orchestratorURL)/sagas/\(saga.id)/events").decode([JSONValue].self)
        #expect(events.map(\.id) == Array(0..<Int64(stored.count)), "every version once, in order")
        #expect(events.map(\.event) == stored.map { $0["type"]?.stringValue ?? "" })
        #expect(events.last?.event == "SagaCompleted")
        #expect(events.first?.data["stream"]?.stringValue == "saga-\(saga.id)")

        let resumed = try await openStream(cluster, "/sagas/\(saga.id)/events", headers: [("Last-Event-ID", "3")])
        let rest = try sentEvents(try await resumed.readUntilClosed(within: .seconds(10)))
        #expect(rest == Array(events.dropFirst(4)), "after id 3: nothing missed, nothing repeated")

        let missing = try await openStream(cluster, "/sagas/s-nope/events")
        #expect(try await missing.readResponse().status == 404)
        await cluster.stop()
    }

    @Test func theGlobalStreamFiltersByTypeAndStreamPrefix() async throws {
        let cluster = try await ClusterFixture.start()
        let watcher = try await openStream(cluster, "/events/stream?types=SagaStarted,SagaCompleted&streamPrefix=saga-")
        var ids: [String] = []
        for amount in [10, 20] {
            ids.append(try await cluster.placeOrder(["customerId": "alice", "eventId": "concert", "seats": 1, "amount": .number(Double(amount))]).id)
        }
        let raw = try await watcher.read(until: { completed($0) == 2 }, within: .seconds(30))
        let events = try sentEvents(raw)
        #expect(events.map(\.event) == ["SagaStarted", "SagaCompleted", "SagaStarted", "SagaCompleted"])
        #expect(events.map(\.id) == events.map(\.id).sorted(), "log order")
        #expect(events.compactMap { $0.data["stream"]?.stringValue } == ids.flatMap { ["saga-\($0)", "saga-\($0)"] })
        watcher.close()

        // A reconnect after the first saga's end gets the second saga's events only.
        let resumed = try await openStream(cluster, "/events/stream?types=SagaStarted,SagaCompleted", headers: [("Last-Event-ID", "\(events[1].id)")])
        let rest = try sentEvents(try await resumed.read(until: { completed($0) == 1 }))
        #expect(rest == Array(events.dropFirst(2)))
        resumed.close()

        for (target, field) in [("/events/stream?colour=red", "colour"), ("/events/stream?after=minus-one", "after")] {
            let bad = try await cluster.client.get("\(cluster.orchestratorURL)\(target)")
            #expect(bad.status == 400, "\(target)")
            #expect(try bad.decode(Problem.self).field == field)
        }
        await cluster.stop()
    }
}
