import EventStore
import Foundation
import SagaHTTP
import SagaProtocol

extension Orchestrator {
    /// `POST/GET /subscriptions`, `GET/DELETE /subscriptions/{name}`, dead letters and their replay.
    static func subscriptionRoutes(
        _ router: inout Router, bus: SubscriptionBus, store: any EventStore, open: @escaping (@escaping HTTPHandler) -> HTTPHandler
    ) {
        router.post("/subscriptions", open { request in
            let (subscription, from) = try parseSubscription(try request.decode(JSONValue.self))
            let start: Int64
            if let from { start = from } else { start = try await store.headPosition }
            guard try await bus.create(subscription, after: start) else {
                throw Problem(
                    status: 409, code: "subscription_exists", title: "Subscription exists",
                    detail: "a subscription named '\(subscription.name)' exists; DELETE it first or pick another name", field: "name")
            }
            return try .json(try await status(subscription.name, bus: bus, store: store), status: 201)
        })

        router.get("/subscriptions", open { _ in
            var all: [SubscriptionStatus] = []
            for (subscription, _) in try await bus.subscriptions.all() {
                all.append(try await status(subscription.name, bus: bus, store: store))
            }
            return try .json(all)
        })

        router.get("/subscriptions/{name}", open { request in
            try .json(try await status(request.parameter("name"), bus: bus, store: store))
        })

        router.delete("/subscriptions/{name}", open { request in
            guard try await bus.delete(request.parameter("name")) else {
                throw Problem.notFound("no subscription '\(request.parameter("name"))'")
            }
            return HTTPResponse(status: 204)
        })

        router.get("/subscriptions/{name}/dead-letters", open { request in
            let name = request.parameter("name")
            _ = try await status(name, bus: bus, store: store)
            return try .json(try await bus.subscriptions.deadLetters(name))
        })

        router.post("/subscriptions/{name}/dead-letters/{position}/replay", open { request in
            guard let position = Int64(request.parameter("position")) else {
                throw Problem.notFound("no dead letter '\(request.parameter("position"))'")
            }
            switch try await bus.replay(request.parameter("name"), position: position) {
            case .success: return try .json(["status": "delivered"])
            case .failure(let failure):
                throw Problem(
                    status: 502, code: "delivery_failed", title: "Delivery failed",
                    detail: "the subscriber did not accept the event: \(failure); it stays a dead letter")
            }
        })
    }

    private static func status(_ name: String, bus: SubscriptionBus, store: any EventStore) async throws -> SubscriptionStatus {
        guard let status = try await bus.subscriptions.status(name, head: try await store.headPosition) else {
            throw Problem.notFound("no subscription '\(name)'")
        }
        return status
    }

    /// Checks a `POST /subscriptions` body field by field, naming the one at fault.
    static func parseSubscription(_ body: JSONValue) throws -> (Subscription, from: Int64?) {
        func invalid(_ field: String, _ detail: String) -> Problem {
            Problem(status: 400, code: "invalid_field", title: "Invalid request body", detail: detail, field: field)
        }
        guard case .object(let fields) = body else { throw invalid("", "the body must be a JSON object") }
        let known: Set<String> = ["name", "url", "filter", "fromPosition", "maxAttempts"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw invalid(unknown, "unknown field '\(unknown)'; known: \(known.sorted().joined(separator: ", "))")
        }
        guard let name = fields["name"]?.stringValue,
            name.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]{0,63}/) != nil
        else { throw invalid("name", "name must be 1-64 letters, digits, '.', '_' or '-'") }
        guard let url = fields["url"]?.stringValue, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased()),
            parsed.host?.isEmpty == false
        else { throw invalid("url", "url must be an absolute http:// or https:// URL") }
        var filter = SubscriptionFilter()
        if let value = fields["filter"] {
            guard case .object(let filterFields) = value else { throw invalid("filter", "filter must be an object") }
            for (key, value) in filterFields.sorted(by: { $0.key < $1.key }) {
                switch (key, value) {
                case ("types", .array(let types)) where types.allSatisfy({ $0.stringValue?.isEmpty == false }):
                    filter.types = types.compactMap(\.stringValue)
                case ("streamPrefix", .string(let prefix)):
                    filter.streamPrefix = prefix
                case ("types", _), ("streamPrefix", _):
                    throw invalid("filter.\(key)", "filter.types is an array of event types; filter.streamPrefix a string")
                default:
                    throw invalid("filter.\(key)", "unknown filter '\(key)'; known: streamPrefix, types")
                }
            }
        }
        let maxAttempts = fields["maxAttempts"]?.intValue ?? 8
        guard (1...100).contains(maxAttempts) else { throw invalid("maxAttempts", "maxAttempts must be 1...100") }
        var from: Int64?
        if let value = fields["fromPosition"] {
            guard let position = value.intValue, position >= 0 else { throw invalid("fromPosition", "fromPosition must be a position ≥ 0") }
            from = Int64(position)
        }
        return (Subscription(name: name, url: url, filter: filter, maxAttempts: maxAttempts), from)
    }
}
