import Foundation
public import SagaProtocol
import SagaHTTP

/// One broken invariant: which saga (when it is about one), which rule, and what was seen.
public struct InvariantViolation: Sendable, Equatable, CustomStringConvertible {
    public var sagaId: String?
    public var rule: String
    public var detail: String

    public init(sagaId: String?, rule: String, detail: String) {
        self.sagaId = sagaId
        self.rule = rule
        self.detail = detail
    }

    public var description: String { "[\(rule)] \(sagaId.map { "saga \($0): " } ?? "")\(detail)" }
}

/// What the checker found: every violation, and how many sagas ended in each status.
public struct InvariantReport: Sendable, CustomStringConvertible {
    public var violations: [InvariantViolation]
    /// Sagas per final status (`completed`, `compensated`, `failed`, …).
    public var counts: [String: Int]
    public var sagasChecked: Int

    public var ok: Bool { violations.isEmpty }

    public var description: String {
        var lines = ["checked \(sagasChecked) sagas: "
            + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")]
        if violations.isEmpty {
            lines.append("no violations")
        } else {
            lines.append("\(violations.count) violation(s):")
            lines += violations.map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}

/// A failure to read the state the invariants are checked against (not a violation: the check could not run).
public struct InvariantCheckError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Checks ARCHITECTURE.md §5's invariants against each service's own API after a run:
/// money conserved, seats never oversold, completed and compensated sagas with the effects they must have,
/// no saga left running, contiguous event streams, compensations newest step first.
public struct InvariantChecker: Sendable {
    public var orchestratorURL: String
    public var ordersURL: String
    public var paymentsURL: String
    public var bookingURL: String
    /// Balances per account before the run (`GET /accounts`).
    public var initialBalances: [String: Int]

    public init(orchestratorURL: String, ordersURL: String, paymentsURL: String, bookingURL: String, initialBalances: [String: Int]) {
        self.orchestratorURL = orchestratorURL
        self.ordersURL = ordersURL
        self.paymentsURL = paymentsURL
        self.bookingURL = bookingURL
        self.initialBalances = initialBalances
    }

    /// `GET /accounts` of a payments service, as `id → balance`.
    public static func balances(paymentsURL: String) async throws -> [String: Int] {
        let client = HTTPClient()
        defer { client.shutdown() }
        guard case .array(let accounts) = try await getJSON(client, "\(paymentsURL)/accounts") else {
            throw InvariantCheckError("GET /accounts did not answer an array")
        }
        var result: [String: Int] = [:]
        for account in accounts {
            guard let id = account["id"]?.stringValue, let balance = account["balance"]?.intValue else { continue }
            result[id] = balance
        }
        return result
    }

    /// Waits (until `deadline`) for every saga to be terminal, then checks every invariant.
    public func check(sagaIds: [String], terminalWithin deadline: Duration = .seconds(120)) async throws -> InvariantReport {
        let client = HTTPClient()
        defer { client.shutdown() }
        var violations: [InvariantViolation] = []

        // 1. Wait until no saga is running or compensating (or the deadline passes).
        let end = ContinuousClock.now + deadline
        var views: [String: JSONValue] = [:]
        var pending = Set(sagaIds)
        while true {
            for id in pending.sorted() {
                guard let view = try? await Self.getJSON(client, "\(orchestratorURL)/sagas/\(id)") else { continue }
                views[id] = view
                let status = view["status"]?.stringValue ?? "?"
                if status != "running" && status != "compensating" { pending.remove(id) }
            }
            if pending.isEmpty || ContinuousClock.now >= end { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        for id in pending.sorted() {
            let status = views[id]?["status"]?.stringValue ?? "unreadable"
            violations.append(InvariantViolation(sagaId: id, rule: "terminal", detail: "still \(status) after \(deadline)"))
        }

        // 2. Each service's own state.
        let accounts = try await Self.getArray(client, "\(paymentsURL)/accounts")
        let payments = try await Self.getArray(client, "\(paymentsURL)/payments")
        let inventory = try await Self.getArray(client, "\(bookingURL)/inventory")
        let reservations = try await Self.getArray(client, "\(bookingURL)/reservations")

        // Money: balances + authorized (unrefunded) payments == initial balances.
        let balanceSum = accounts.compactMap { $0["balance"]?.intValue }.reduce(0, +)
        let authorizedSum = payments.filter { $0["status"]?.stringValue == "authorized" }.compactMap { $0["amount"]?.intValue }.reduce(0, +)
        let initialSum = initialBalances.values.reduce(0, +)
        if balanceSum + authorizedSum != initialSum {
            violations.append(InvariantViolation(
                sagaId: nil, rule: "money-conserved",
                detail: "balances \(balanceSum) + authorized payments \(authorizedSum) = \(balanceSum + authorizedSum), initial balances \(initialSum)"))
        }

        // Seats: reserved <= capacity, reserved == sum of seats of `reserved` reservations.
        var reservedSeats: [String: Int] = [:]
        for reservation in reservations where reservation["status"]?.stringValue == "reserved" {
            reservedSeats[reservation["eventId"]?.stringValue ?? "?", default: 0] += reservation["seats"]?.intValue ?? 0
        }
        for event in inventory {
            let id = event["eventId"]?.stringValue ?? "?"
            let capacity = event["capacity"]?.intValue ?? 0
            let reserved = event["reserved"]?.intValue ?? 0
            if reserved > capacity {
                violations.append(InvariantViolation(sagaId: nil, rule: "no-oversell", detail: "event \(id): reserved \(reserved) > capacity \(capacity)"))
            }
            if reserved != reservedSeats[id, default: 0] {
                violations.append(InvariantViolation(
                    sagaId: nil, rule: "seats-match-reservations",
                    detail: "event \(id): inventory reserved \(reserved), reserved reservations hold \(reservedSeats[id, default: 0])"))
            }
        }

        let paymentsByOrder = Dictionary(grouping: payments) { $0["orderId"]?.stringValue ?? "" }
        let reservationsByOrder = Dictionary(grouping: reservations) { $0["orderId"]?.stringValue ?? "" }

        // 3. Per saga.
        var counts: [String: Int] = [:]
        for id in sagaIds {
            guard let view = views[id] else {
                violations.append(InvariantViolation(sagaId: id, rule: "readable", detail: "GET /sagas/\(id) never answered"))
                continue
            }
            let status = view["status"]?.stringValue ?? "?"
            counts[status, default: 0] += 1
            let orderId = view["context"]?["orderId"]?.stringValue ?? view["input"]?["orderId"]?.stringValue
            let order: JSONValue? = if let orderId { try await fetchOrder(client, orderId) } else { nil }
            let orderStatus = order?["status"]?.stringValue
            let authorized = orderId.map { paymentsByOrder[$0, default: []] }?.filter { $0["status"]?.stringValue == "authorized" } ?? []
            let reserved = orderId.map { reservationsByOrder[$0, default: []] }?.filter { $0["status"]?.stringValue == "reserved" } ?? []
            switch status {
            case "completed":
                if orderId == nil { violations.append(InvariantViolation(sagaId: id, rule: "completed-effects", detail: "no orderId in context")) }
                if orderStatus != "approved" {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "completed-effects", detail: "order \(orderId ?? "?") is \(orderStatus ?? "missing"), expected approved"))
                }
                if authorized.count != 1 {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "completed-effects",
                        detail: "order \(orderId ?? "?") has \(authorized.count) authorized payments (\(Self.ids(authorized))), expected 1"))
                }
                if reserved.count != 1 {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "completed-effects",
                        detail: "order \(orderId ?? "?") has \(reserved.count) reserved reservations (\(Self.ids(reserved))), expected 1"))
                }
            case "compensated":
                if let orderStatus, orderStatus != "cancelled" {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "compensated-effects", detail: "order \(orderId ?? "?") is \(orderStatus), expected cancelled"))
                }
                if !authorized.isEmpty {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "compensated-effects",
                        detail: "order \(orderId ?? "?") still has authorized payments \(Self.ids(authorized))"))
                }
                if !reserved.isEmpty {
                    violations.append(InvariantViolation(
                        sagaId: id, rule: "compensated-effects",
                        detail: "order \(orderId ?? "?") still has reserved reservations \(Self.ids(reserved))"))
                }
            case "running", "compensating":
                break  // reported as "terminal" above
            default:
                violations.append(InvariantViolation(sagaId: id, rule: "terminal", detail: "ended \(status), expected completed or compensated"))
            }
            violations += try await checkStream(client, sagaId: id)
        }
        return InvariantReport(violations: violations, counts: counts, sagasChecked: sagaIds.count)
    }

    /// Contiguous versions from 0, compensation dispatches newest step first, and no compensation missing.
    func checkStream(_ client: HTTPClient, sagaId: String) async throws -> [InvariantViolation] {
        let events = try await Self.getArray(client, "\(orchestratorURL)/sagas/\(sagaId)/events")
        return Self.streamViolations(sagaId: sagaId, events: events)
    }

    /// The stream rules over one saga's events as `GET /sagas/{id}/events` returns them.
    public static func streamViolations(sagaId: String, events: [JSONValue]) -> [InvariantViolation] {
        var violations: [InvariantViolation] = []
        let versions = events.map { $0["version"]?.intValue ?? -1 }
        if versions != Array(0..<events.count) {
            violations.append(InvariantViolation(sagaId: sagaId, rule: "contiguous-stream", detail: "versions \(versions)"))
        }
        guard case .array(let steps)? = events.first?["data"]?["definition"]?["steps"] else {
            violations.append(InvariantViolation(sagaId: sagaId, rule: "contiguous-stream", detail: "first event has no definition"))
            return violations
        }
        let order = Dictionary(steps.enumerated().map { ($0.element["name"]?.stringValue ?? "", $0.offset) }) { first, _ in first }
        let compensations = events.filter { $0["type"]?.stringValue == "StepDispatched" && $0["data"]?["kind"]?.stringValue == "compensation" }
            .compactMap { $0["data"]?["step"]?.stringValue }
        var last = Int.max
        for step in compensations {
            let index = order[step] ?? -1
            if index > last {
                violations.append(InvariantViolation(
                    sagaId: sagaId, rule: "compensations-newest-first", detail: "compensations dispatched in order \(compensations)"))
                break
            }
            last = index
        }
        // A compensated saga undid every compensable step whose action succeeded.
        if events.last?["type"]?.stringValue == "SagaCompensated" {
            let compensable = Set(steps.filter { $0["compensation"]?.stringValue != nil }.compactMap { $0["name"]?.stringValue })
            func succeeded(_ kind: String) -> Set<String> {
                Set(events.filter { $0["type"]?.stringValue == "StepSucceeded" && $0["data"]?["kind"]?.stringValue == kind }
                    .compactMap { $0["data"]?["step"]?.stringValue })
            }
            let missing = succeeded("action").intersection(compensable).subtracting(succeeded("compensation"))
            if !missing.isEmpty {
                violations.append(InvariantViolation(
                    sagaId: sagaId, rule: "compensation-missing",
                    detail: "compensated, but the compensation of \(missing.sorted().joined(separator: ", ")) never succeeded"))
            }
        }
        return violations
    }

    private func fetchOrder(_ client: HTTPClient, _ id: String) async throws -> JSONValue? {
        let response = try await Self.get(client, "\(ordersURL)/orders/\(id)")
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else { throw InvariantCheckError("GET \(ordersURL)/orders/\(id): HTTP \(response.status)") }
        return try response.decode(JSONValue.self)
    }

    private static func ids(_ items: [JSONValue]) -> String {
        items.compactMap { $0["id"]?.stringValue }.joined(separator: ",")
    }

    /// A GET retried on connection errors for a few seconds (a service may be restarting).
    static func get(_ client: HTTPClient, _ url: String) async throws -> HTTPClientResponse {
        let end = ContinuousClock.now + .seconds(30)
        while true {
            do {
                let response = try await client.get(url, timeout: .seconds(10))
                if response.status != 503 || ContinuousClock.now >= end { return response }
            } catch {
                if ContinuousClock.now >= end { throw InvariantCheckError("GET \(url): \(error)") }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    static func getJSON(_ client: HTTPClient, _ url: String) async throws -> JSONValue {
        let response = try await get(client, url)
        guard (200..<300).contains(response.status) else { throw InvariantCheckError("GET \(url): HTTP \(response.status)") }
        return try response.decode(JSONValue.self)
    }

    static func getArray(_ client: HTTPClient, _ url: String) async throws -> [JSONValue] {
        guard case .array(let items) = try await getJSON(client, url) else { throw InvariantCheckError("GET \(url): not an array") }
        return items
    }
}
