import Crypto
import EventStore
import Foundation
import SagaEngine
import SagaHTTP
import SagaProtocol
import Synchronization

/// `POST /sagas` body.
struct StartSagaRequest: Decodable {
    var type: String
    var input: JSONValue
    var idempotencyKey: String?
    var callbackUrl: String?
}

/// One event of a stream or of the global log as the API shows it.
struct EventView: Codable {
    var position: Int64
    var stream: String
    var version: Int64
    var type: String
    var data: JSONValue
    var recordedAt: Date

    init(_ event: RecordedEvent) {
        position = event.position
        stream = event.stream
        version = event.version
        type = event.type
        data = (try? JSONCoding.decode(JSONValue.self, from: event.data)) ?? .null
        recordedAt = event.recordedAt
    }
}

extension Orchestrator {
    static func routes(
        executor: SagaExecutor, projection: SagaViewProjection, inbox: DomainEventInbox, bus: SubscriptionBus, store: any EventStore,
        definitions: DefinitionRegistry, ids: any IdentifierGenerator, apiToken: String?
    ) -> Router {
        var router = Router()
        let open = { (handler: @escaping HTTPHandler) -> HTTPHandler in
            guard let apiToken else { return handler }
            return { request in
                guard request.header("Authorization") == "Bearer \(apiToken)" else {
                    throw Problem(status: 401, code: "unauthorized", title: "Unauthorized", detail: "missing or wrong bearer token")
                }
                return try await handler(request)
            }
        }

        router.post("/sagas", open { request in
            let body = try request.decode(StartSagaRequest.self)
            guard let definition = definitions.latest(named: body.type) else {
                throw Problem(
                    status: 422, code: "unknown_saga_type", title: "Unknown saga type",
                    detail: "no saga definition '\(body.type)'; known: \(definitions.latest.map(\.name).joined(separator: ", "))",
                    field: "type")
            }
            guard case .object = body.input else {
                throw Problem(status: 400, code: "invalid_field", title: "Invalid request body", detail: "input must be a JSON object", field: "input")
            }
            let sagaId = body.idempotencyKey.map { idempotentSagaId(type: body.type, key: $0) } ?? ids.next(prefix: "s")
            if let callback = body.callbackUrl {
                guard let url = URL(string: callback), ["http", "https"].contains(url.scheme?.lowercased()), url.host?.isEmpty == false else {
                    throw Problem(
                        status: 400, code: "invalid_field", title: "Invalid request body",
                        detail: "callbackUrl must be an absolute http:// or https:// URL", field: "callbackUrl")
                }
                // Stored before the saga starts, so no end can pass without its callback.
                try await bus.subscriptions.setCallback(sagaId: sagaId, url: callback)
            }
            var (state, created) = try await executor.start(sagaId: sagaId, definition: definition, input: body.input)
            if let wait = preferredWait(request) { state = try await executor.waitForEnd(of: sagaId, timeout: wait) ?? state }
            return try .json(SagaView(state, createdAt: nil, updatedAt: nil), status: created ? 201 : 200)
        })

        router.get("/sagas/{id}", open { request in
            let id = request.parameter("id")
            if let wait = preferredWait(request) { _ = try await executor.waitForEnd(of: id, timeout: wait) }
            await projection.catchUp(to: try await store.headPosition)
            guard let view = try await projection.view(id) else { throw Problem.notFound("no saga '\(id)'") }
            return try .json(view)
        })

        router.get("/sagas", open { request in
            let limit = min(max(Int(request.query["limit"] ?? "") ?? 100, 1), 1000)
            if let status = request.query["status"], SagaStatus(rawValue: status) == nil {
                throw Problem(
                    status: 400, code: "invalid_query", title: "Invalid query", detail: "unknown status '\(status)'", field: "status")
            }
            await projection.catchUp(to: try await store.headPosition)
            let page = try await projection.list(
                status: request.query["status"], type: request.query["type"], limit: limit,
                after: Int64(request.query["after"] ?? "") ?? 0)
            return try .json(SagaPage(items: page.views, next: page.next))
        })

        router.get("/sagas/{id}/events", open { request in
            let id = request.parameter("id")
            if EventStreams.wanted(request) {
                return try await EventStreams.saga(id, after: try EventStreams.resumePoint(request), store: store)
            }
            let events = try await store.read(stream: SagaExecutor.stream(id))
            guard !events.isEmpty else { throw Problem.notFound("no saga '\(id)'") }
            return try .json(events.map(EventView.init))
        })

        router.post("/sagas/{id}/retry", open { request in
            let id = request.parameter("id")
            guard let state = try await executor.state(of: id) else { throw Problem.notFound("no saga '\(id)'") }
            guard state.status == .failed else {
                throw Problem(
                    status: 409, code: "not_failed", title: "Saga is not failed",
                    detail: "only a failed saga can be retried; this one is \(state.status.rawValue)")
            }
            let after = try await executor.handle(sagaId: id, input: .operatorRetry) ?? state
            return try .json(SagaView(after, createdAt: nil, updatedAt: nil), status: 202)
        })

        router.post("/replies", signed: true) { request in
            let reply = try request.decode(Reply.self)
            guard let state = try await executor.state(of: reply.sagaId) else {
                throw Problem.notFound("no saga '\(reply.sagaId)'")
            }
            let known = state.steps.contains { $0.commandIds.contains(reply.commandId) || $0.compensationCommandIds.contains(reply.commandId) }
            guard known else {
                throw Problem(
                    status: 409, code: "unknown_command", title: "Unknown command",
                    detail: "saga '\(reply.sagaId)' never dispatched command '\(reply.commandId)'")
            }
            try await executor.handle(sagaId: reply.sagaId, input: .reply(reply))
            return try .json(["status": "recorded"])
        }

        router.post("/events", signed: true) { request in
            // One event, or an array of them: a participant's relay sends what its outbox holds in one request.
            let isBatch = request.body.first { !" \t\r\n".utf8.contains($0) } == UInt8(ascii: "[")
            let events = isBatch ? try request.decode([DomainEvent].self) : [try request.decode(DomainEvent.self)]
            guard events.count <= Self.maxDomainEventBatch else {
                throw Problem(
                    status: 413, code: "batch_too_large", title: "Too many events",
                    detail: "\(events.count) events in one request; at most \(Self.maxDomainEventBatch)")
            }
            if let index = events.firstIndex(where: { $0.stream.hasPrefix("saga-") }) {
                throw Problem(
                    status: 400, code: "reserved_stream", title: "Reserved stream", detail: "saga-* streams are the orchestrator's",
                    field: isBatch ? "[\(index)].stream" : "stream")
            }
            let outcome = try await inbox.append(events, to: store)
            let status = outcome.appended > 0 ? 201 : 200
            if isBatch { return try .json(outcome, status: status) }
            return try .json(["status": outcome.appended > 0 ? "appended" : "duplicate"], status: status)
        }

        router.get("/events", open { request in
            let limit = min(max(Int(request.query["limit"] ?? "") ?? 100, 1), 1000)
            let events = try await store.readAll(after: Int64(request.query["after"] ?? "") ?? 0, limit: limit)
            return try .json(events.map(EventView.init))
        })

        router.get("/events/stream", open { request in
            let known: Set<String> = ["types", "streamPrefix", "after"]
            if let unknown = request.query.keys.sorted().first(where: { !known.contains($0) }) {
                throw Problem(
                    status: 400, code: "invalid_query", title: "Invalid query",
                    detail: "unknown parameter '\(unknown)'; known: after, streamPrefix, types", field: unknown)
            }
            let types = request.query["types"].map { Set($0.split(separator: ",").map(String.init)) }
            return EventStreams.all(
                after: try EventStreams.resumePoint(request) ?? 0, types: types, streamPrefix: request.query["streamPrefix"],
                store: store)
        })

        router.get("/stats", open { _ in
            let head = try await store.headPosition
            await projection.catchUp(to: head)
            return try .json(try await projection.stats(head: try await store.headPosition))
        })

        router.get("/definitions", open { _ in
            try .json(definitions.latest.map { DefinitionSummary(name: $0.name, version: $0.version, hash: $0.hash, steps: $0.steps.map(\.name)) })
        })

        subscriptionRoutes(&router, bus: bus, store: store, open: open)
        router.get("/health") { _ in try .json(["status": "ok", "service": "orchestrator"]) }
        return router
    }

    /// The saga id for an idempotency key: the same key and type always name the same saga.
    static func idempotentSagaId(type: String, key: String) -> String {
        let digest = SHA256.hash(data: Data("\(type)\u{0}\(key)".utf8))
        return "s-" + Array(digest.prefix(16)).hex
    }

    /// Most domain events one `POST /events` may carry.
    static let maxDomainEventBatch = 512

    /// `Prefer: wait=N` (seconds, at most 60).
    static func preferredWait(_ request: HTTPRequest) -> Duration? {
        // Split by hand (RFC 7240: preferences separated by commas, parameters by semicolons): a regex literal
        // here was compiled on every request, 1.5% of the orchestrator's CPU.
        let preferences = request.header("Prefer")?.split(whereSeparator: { $0 == "," || $0 == ";" }) ?? []
        guard let wait = preferences.lazy.map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { $0.hasPrefix("wait=") }),
            let seconds = Int(wait.dropFirst("wait=".count)), seconds >= 0
        else { return nil }
        return .seconds(min(seconds, 60))
    }
}

struct SagaPage: Codable {
    var items: [SagaView]
    var next: Int64?
}

struct DefinitionSummary: Codable {
    var name: String
    var version: Int
    var hash: String
    var steps: [String]
}
