import Compose
import Foundation
import SagaHTTP
import SagaProtocol
import SagaflowCLI
import TestSupport
import Testing

/// The real executables through `Compose`: orchestrator crashes at each crash point, a participant crash between its
/// commit and its reply, a lost reply, duplicate and overtaken commands, and participants down for a while. Each test
/// checks the saga's end and each participant's own state: one charge, one reservation, one order, or none of them.
@Suite("End to end: real processes, crashes, lost replies and outages", .serialized)
struct EndToEndTests {
    /// What every saga here orders: 2 seats at the concert for alice, 25.00.
    static let order: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 2, "amount": 2500]

    @Test(.timeLimit(.minutes(2)), arguments: ["before-append", "after-append-dispatch", "after-dispatch", "after-reply-append"])
    func theOrchestratorCrashedAtAPointIsRestartedAndFinishesTheSagaOnce(point: String) async throws {
        try await TestCluster.run(
            "e2e-crash-\(point)", configure: { file, runDirectory in try file.crashOrchestratorOnce(at: point, runDirectory: runDirectory) }
        ) { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            // The POST itself dies with the orchestrator at the first two points; `startSaga` repeats it with the same key.
            let sagaId = try await env.startSaga(key: "crash-\(point)", input: Self.order)
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))

            let log = try String(contentsOfFile: env.cluster.logFile(of: "orchestrator"), encoding: .utf8)
            #expect(log.contains("crash point \(point) hit"), "the orchestrator never crashed at \(point)")
            #expect(env.cluster.restarts["orchestrator"] == 1, "\(env.cluster.restarts)")
            try await env.expectCompletedOnce(sagaId, initial: initial)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aParticipantThatCrashesAfterItsCommitIsRestartedAndChargesOnce() async throws {
        // Room for the restart: the demo's five attempts within about half a second could end before payments is back,
        // and the saga would roll back instead (correct too, but not what this test is about).
        try await TestCluster.run(
            "e2e-participant-crash",
            configure: { file, runDirectory in
                try file.useSagaDefinition(
                    try placeOrderDefinition(replacing: [
                        "retry: {attempts: 5, backoff: 50ms, maxBackoff: 2s}": "retry: {attempts: 30, backoff: 100ms, maxBackoff: 500ms}"
                    ]), runDirectory: runDirectory)
            }
        ) { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            try await env.setFaults(
                ["rules": [["command": "AuthorizePayment", "kind": "action", "crash": "after-commit", "times": 1]]], on: "payments")
            let sagaId = try await env.startSaga(key: "participant-crash", input: Self.order)
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))

            let log = try String(contentsOfFile: env.cluster.logFile(of: "payments"), encoding: .utf8)
            #expect(log.contains("injected crash"), "payments never crashed")
            #expect(env.cluster.restarts["payments"] == 1, "\(env.cluster.restarts)")
            let saga = try await env.saga(sagaId)
            #expect((try sagaStep("authorize-payment", of: saga)["attempts"]?.intValue ?? 0) >= 2, "the charge was sent again after the crash")
            try await env.expectCompletedOnce(sagaId, initial: initial)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aReplyLostOnTheWireIsRetriedAndAnsweredFromTheInbox() async throws {
        try await TestCluster.run("e2e-lost-reply") { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            try await env.setFaults(
                ["rules": [["command": "AuthorizePayment", "kind": "action", "drop": "after-commit", "times": 1]]], on: "payments")
            let sagaId = try await env.startSaga(key: "lost-reply", input: Self.order)
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))

            let events = await env.events(of: sagaId)
            let sends = events.filter { $0.isEvent("StepDispatched", step: "authorize-payment", kind: "action") }
            let history = try await env.history(of: sagaId)
            #expect(sends.count == 2, "sent, then sent again after the dropped reply:\n\(history)")
            #expect(Set(sends.compactMap { $0["data"]?["commandId"]?.stringValue }).count == 1, "a retry keeps the command id")
            let lost = events.filter { $0.isEvent("StepFailed", step: "authorize-payment", kind: "action") }
            #expect(lost.map { $0["data"]?["error"]?["code"]?.stringValue } == ["outcome_unknown"])
            #expect(env.cluster.restarts["payments"] == 0)
            try await env.expectCompletedOnce(sagaId, initial: initial)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theSameCommandDeliveredSeveralTimesAtOnceHasOneEffectAndOneReply() async throws {
        try await TestCluster.run("e2e-duplicates") { env in
            let payments = try env.url("payments")
            let before = try await env.balance("alice")
            let orderId = "o-dup-\(UUID().uuidString.lowercased())"
            let command = CommandEnvelope(
                id: "c-dup-\(UUID().uuidString.lowercased())", sagaId: "s-dup-\(UUID().uuidString.lowercased())", sagaType: "place-order",
                step: "authorize-payment", type: "AuthorizePayment", kind: .action,
                payload: ["orderId": .string(orderId), "customerId": "alice", "amount": 1234])
            // Each copy is signed afresh, as a retry would be: the same command, not a replayed request.
            let admin = env.admin
            let responses = try await withThrowingTaskGroup(of: HTTPClientResponse.self) { group in
                for _ in 0..<8 { group.addTask { try await admin.post("\(payments)/commands", json: command) } }
                return try await group.reduce(into: [HTTPClientResponse]()) { $0.append($1) }
            }
            #expect(responses.map(\.status) == Array(repeating: 200, count: 8), "\(responses.map { String(decoding: $0.body, as: UTF8.self) })")
            let replies = try responses.map { try $0.decode(Reply.self) }
            #expect(replies.allSatisfy { $0 == replies.first }, "one reply for every copy: \(replies)")
            let reply = try #require(replies.first)
            #expect(reply.outcome == .succeeded && reply.commandId == command.id)
            let paymentId = try #require(reply.output?["paymentId"]?.stringValue)

            // A later copy gets the stored reply too.
            #expect(try await admin.post("\(payments)/commands", json: command).decode(Reply.self) == reply)
            let charges = try await env.payments(orderId: orderId)
            #expect(charges.map { $0["id"]?.stringValue } == [paymentId], "one payment: \(charges)")
            #expect(charges.map { $0["status"]?.stringValue } == ["authorized"])
            #expect(try await env.balance("alice") == before - 1234, "charged exactly once")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func anActionOvertakenByItsCompensationIsRefusedAndMovesNoMoney() async throws {
        try await TestCluster.run("e2e-overtaken") { env in
            let payments = try env.url("payments")
            let before = try await env.balance("alice")
            let orderId = "o-late-\(UUID().uuidString.lowercased())"
            let sagaId = "s-late-\(UUID().uuidString.lowercased())"
            let payload: JSONValue = ["orderId": .string(orderId), "customerId": "alice", "amount": 777]
            let action = CommandEnvelope(
                id: "c-charge-\(UUID().uuidString.lowercased())", sagaId: sagaId, sagaType: "place-order", step: "authorize-payment",
                type: "AuthorizePayment", kind: .action, payload: payload)
            let compensation = CommandEnvelope(
                id: "c-refund-\(UUID().uuidString.lowercased())", sagaId: sagaId, sagaType: "place-order", step: "authorize-payment",
                type: "RefundPayment", kind: .compensation, payload: payload, compensates: action.id)

            // The compensation arrives first: nothing to undo, it succeeds as a no-op and leaves a tombstone.
            let undone = try await env.admin.post("\(payments)/commands", json: compensation)
            #expect(undone.status == 200)
            let undoneReply = try undone.decode(Reply.self)
            #expect(undoneReply.outcome == .succeeded && undoneReply.output?["noop"] == .bool(true), "\(undoneReply)")

            // The action arrives late: refused, and refused the same way when it comes again.
            let late = try await env.admin.post("\(payments)/commands", json: action)
            #expect(late.status == 200)
            let lateReply = try late.decode(Reply.self)
            #expect(lateReply.outcome == .failed && lateReply.error?.code == "compensated", "\(lateReply)")
            #expect(try await env.admin.post("\(payments)/commands", json: action).decode(Reply.self) == lateReply)

            #expect(try await env.payments(orderId: orderId).isEmpty, "no payment for the overtaken action")
            #expect(try await env.balance("alice") == before, "no money moved")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aParticipantDownLongerThanAnActionsRetriesRollsTheSagaBackOnceItIsBack() async throws {
        try await TestCluster.run("e2e-payments-down") { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            await env.cluster.stop("payments")
            let sagaId = try await env.startSaga(key: "payments-down", input: Self.order)

            // Five refused charges leave the step in doubt; its refund cannot reach payments either, so the saga waits.
            _ = try await env.awaitEvent(in: sagaId, "StepFailed", step: "authorize-payment", kind: "compensation")
            let waiting = try await env.saga(sagaId)
            #expect(waiting["status"]?.stringValue == "compensating")
            #expect(waiting["compensationReason"]?.stringValue == "step-in-doubt")
            #expect(try sagaStep("authorize-payment", of: waiting)["attempts"]?.intValue == 5)

            try await env.cluster.start("payments")
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))
            try await env.expectCompensated(sagaId, initial: initial, charged: false)
            let events = await env.events(of: sagaId)
            #expect(!events.contains { $0.isEvent("StepDispatched", step: "reserve-seats", kind: "action") }, "never got past the payment")

            // The first charge, had it been stuck in the network all along, is refused now: no money moves.
            let firstSend = try #require(events.first { $0.isEvent("StepDispatched", step: "authorize-payment", kind: "action") })
            let saga = try await env.saga(sagaId)
            let charge = CommandEnvelope(
                id: try #require(firstSend["data"]?["commandId"]?.stringValue), sagaId: sagaId, sagaType: "place-order",
                step: "authorize-payment", type: "AuthorizePayment", kind: .action,
                payload: Self.order.merging(["orderId": try #require(saga["context"]?["orderId"])]))
            let late = try await env.admin.post("\(try env.url("payments"))/commands", json: charge).decode(Reply.self)
            #expect(late.outcome == .failed && late.error?.code == "compensated", "\(late)")
            try await env.expectCompensated(sagaId, initial: initial, charged: false)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aCompensationWaitsForAParticipantThatIsDownAndRefundsOnce() async throws {
        try await TestCluster.run("e2e-down-in-compensation") { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            let sagaId = try await env.chargeThenStopPaymentsBeforeTheRollBack(key: "down-in-compensation")

            // The refund is refused while payments is down, and retried.
            _ = try await env.awaitEvent(in: sagaId, "StepFailed", step: "authorize-payment", kind: "compensation")
            #expect(try await env.saga(sagaId)["status"]?.stringValue == "compensating")
            try await env.cluster.start("payments")
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))
            try await env.expectCompensated(sagaId, initial: initial, charged: true)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aSagaFailedOnAParticipantOutageIsRetriedByAnOperatorAndRefundsOnce() async throws {
        // Three quick refund attempts instead of the demo's ten with up to 5 s between them.
        try await TestCluster.run(
            "e2e-operator-retry",
            configure: { file, runDirectory in
                try file.useSagaDefinition(
                    try placeOrderDefinition(replacing: [
                        "maxCompensationAttempts: 10": "maxCompensationAttempts: 3",
                        "compensationRetry: {backoff: 100ms, maxBackoff: 5s}": "compensationRetry: {backoff: 50ms, maxBackoff: 200ms}",
                    ]), runDirectory: runDirectory)
            }
        ) { env in
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            let sagaId = try await env.chargeThenStopPaymentsBeforeTheRollBack(key: "operator-retry")

            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))
            let failed = try await env.saga(sagaId)
            let history = try await env.history(of: sagaId)
            #expect(failed["status"]?.stringValue == "failed", "\(history)")
            #expect(failed["failureReason"]?.stringValue == "compensation-exhausted")
            let refusals = await env.events(of: sagaId).filter { $0.isEvent("StepFailed", step: "authorize-payment", kind: "compensation") }
            #expect(refusals.count == 3)

            try await env.cluster.start("payments")
            let api = try env.url("orchestrator")
            let retried = try await env.client.post("\(api)/sagas/\(sagaId)/retry", json: JSONValue.emptyObject)
            #expect(retried.status == 202, "\(String(decoding: retried.body, as: UTF8.self))")
            try await env.awaitEnd(of: sagaId, timeout: .seconds(60))
            try await env.expectCompensated(sagaId, initial: initial, charged: true)
            let again = try await env.client.post("\(api)/sagas/\(sagaId)/retry", json: JSONValue.emptyObject)
            #expect(again.status == 409, "only a failed saga can be retried")
        }
    }
}

/// The `place-order` definition of `compose/sagas`, with each key's text replaced by its value (each must be there).
private func placeOrderDefinition(replacing replacements: [String: String]) throws -> String {
    var yaml = try String(contentsOfFile: "\(repositoryRoot)/compose/sagas/place-order.yml", encoding: .utf8)
    for (old, new) in replacements {
        try #require(yaml.contains(old), "place-order.yml no longer says '\(old)'")
        yaml = yaml.replacingOccurrences(of: old, with: new)
    }
    return yaml
}

/// The step called `name` of a saga view.
private func sagaStep(_ name: String, of saga: JSONValue) throws -> JSONValue {
    let steps = try #require(try saga["steps"]?.decode([JSONValue].self), "a saga view without steps: \(saga)")
    return try #require(steps.first { $0["name"]?.stringValue == name }, "no step \(name) in \(saga)")
}

extension JSONValue {
    /// Whether this saga event has `type` and is about `step`'s `kind`.
    fileprivate func isEvent(_ type: String, step: String, kind: String) -> Bool {
        self["type"]?.stringValue == type && self["data"]?["step"]?.stringValue == step && self["data"]?["kind"]?.stringValue == kind
    }
}

extension ComposeFile {
    /// Index of the orchestrator service.
    private func orchestratorIndex() throws -> Int {
        try #require(services.firstIndex { $0.name == "orchestrator" })
    }

    /// Arms `SAGAFLOW_CRASH_AT=point` on the orchestrator's first launch only: a marker file in the run directory
    /// makes the supervisor's restart run it unarmed, so it crashes once and then finishes what it started.
    fileprivate mutating func crashOrchestratorOnce(at point: String, runDirectory: String) throws {
        let index = try orchestratorIndex()
        let marker = "\(runDirectory)/orchestrator-armed"
        let script = #"if [ -e "$2" ]; then exec "$1"; fi; : > "$2"; SAGAFLOW_CRASH_AT="$3" exec "$1""#
        services[index].command = ["/bin/sh", "-c", script, "crash-once", "\(ClusterTests.binDirectory)/orchestrator", marker, point]
    }

    /// Gives the orchestrator `placeOrder` as its only saga definition, from a directory in the run directory.
    fileprivate mutating func useSagaDefinition(_ placeOrder: String, runDirectory: String) throws {
        let index = try orchestratorIndex()
        let sagas = "\(runDirectory)/sagas"
        try FileManager.default.createDirectory(atPath: sagas, withIntermediateDirectories: true)
        try placeOrder.write(toFile: "\(sagas)/place-order.yml", atomically: true, encoding: .utf8)
        services[index].environment["SAGAS_DIR"] = sagas
    }
}

extension TestCluster {
    /// Waits until saga `sagaId` has an event `type` about `step`'s `kind`, and returns the first such event.
    fileprivate func awaitEvent(
        in sagaId: String, _ type: String, step: String, kind: String, timeout: Duration = .seconds(30)
    ) async throws -> JSONValue {
        var found: JSONValue?
        try await waitUntil("\(type) \(step) \(kind) in saga \(sagaId)", timeout: timeout, interval: .milliseconds(20)) {
            found = await events(of: sagaId).first { $0.isEvent(type, step: step, kind: kind) }
            return found != nil
        }
        return try #require(found)
    }

    fileprivate func balance(_ customer: String) async throws -> Int {
        try #require(try await client.get("\(try url("payments"))/accounts/\(customer)").decode(JSONValue.self)["balance"]?.intValue)
    }

    fileprivate func payments(orderId: String) async throws -> [JSONValue] {
        try await array("\(try url("payments"))/payments?orderId=\(orderId)")
    }

    fileprivate func reservations(orderId: String) async throws -> [JSONValue] {
        try await array("\(try url("booking"))/reservations?orderId=\(orderId)")
    }

    private func array(_ url: String) async throws -> [JSONValue] {
        let response = try await client.get(url)
        try #require(response.status == 200, "GET \(url): HTTP \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        return try response.decode([JSONValue].self)
    }

    /// Starts a saga whose payment succeeds and whose seats are refused, and stops payments between the two:
    /// booking holds `ReserveSeats` for 4 s before answering `sold_out`, so the refund finds payments down.
    fileprivate func chargeThenStopPaymentsBeforeTheRollBack(key: String) async throws -> String {
        try await setFaults(
            [
                "rules": [
                    ["command": "ReserveSeats", "kind": "action", "delayMs": 4000],
                    ["command": "ReserveSeats", "kind": "action", "fail": 1.0, "code": "sold_out"],
                ]
            ], on: "booking")
        let sagaId = try await startSaga(key: key, input: EndToEndTests.order)
        _ = try await awaitEvent(in: sagaId, "StepDispatched", step: "reserve-seats", kind: "action")
        await cluster.stop("payments")
        let events = await events(of: sagaId)
        let history = try await history(of: sagaId)
        try #require(
            events.contains { $0.isEvent("StepSucceeded", step: "authorize-payment", kind: "action") }
                && !events.contains { $0["type"]?.stringValue == "CompensationStarted" },
            "payments must be down after the charge and before the roll-back:\n\(history)")
        return sagaId
    }

    /// The saga completed, the invariants hold, and each participant did its part exactly once: one approved order,
    /// one authorized payment of the amount (and alice's balance down by it once), one reservation of the seats.
    fileprivate func expectCompletedOnce(_ sagaId: String, initial: [String: Int]) async throws {
        let report = try await checker(initialBalances: initial).check(sagaIds: [sagaId], terminalWithin: .seconds(30))
        let history = try await history(of: sagaId)
        #expect(report.ok && report.counts == ["completed": 1], "\(report)\n\(history)")
        let saga = try await self.saga(sagaId)
        let orderId = try #require(saga["context"]?["orderId"]?.stringValue)
        let amount = try #require(EndToEndTests.order["amount"]?.intValue)
        let seats = try #require(EndToEndTests.order["seats"]?.intValue)

        let orders = try await array("\(try url("orders"))/orders")
        #expect(orders.map { $0["id"]?.stringValue } == [orderId], "one order: \(orders)")
        #expect(orders.map { $0["status"]?.stringValue } == ["approved"])
        let charges = try await payments(orderId: orderId)
        #expect(charges.map { $0["status"]?.stringValue } == ["authorized"], "one charge: \(charges)")
        #expect(charges.map { $0["amount"]?.intValue } == [amount])
        #expect(charges.first?["id"] == saga["context"]?["paymentId"], "the saga knows the payment that was made")
        #expect(try await balance("alice") == initial["alice", default: 0] - amount)
        let held = try await reservations(orderId: orderId)
        #expect(held.map { $0["status"]?.stringValue } == ["reserved"], "one reservation: \(held)")
        let concert = try await client.get("\(try url("booking"))/inventory/concert").decode(JSONValue.self)
        #expect(concert["reserved"]?.intValue == seats)
    }

    /// The saga was compensated, the invariants hold, its order is cancelled, no seat is held and alice has all her
    /// money; when it was `charged`, the one payment is refunded (once: the balance is back, not above).
    fileprivate func expectCompensated(_ sagaId: String, initial: [String: Int], charged: Bool) async throws {
        let report = try await checker(initialBalances: initial).check(sagaIds: [sagaId], terminalWithin: .seconds(30))
        let history = try await history(of: sagaId)
        #expect(report.ok && report.counts == ["compensated": 1], "\(report)\n\(history)")
        let saga = try await self.saga(sagaId)
        let orderId = try #require(saga["context"]?["orderId"]?.stringValue)
        let order = try await client.get("\(try url("orders"))/orders/\(orderId)").decode(JSONValue.self)
        #expect(order["status"]?.stringValue == "cancelled", "\(order)")
        let charges = try await payments(orderId: orderId)
        #expect(charges.map { $0["status"]?.stringValue } == (charged ? ["refunded"] : []), "\(charges)")
        #expect(try await balance("alice") == initial["alice"], "alice has her money back, once")
        #expect(try await reservations(orderId: orderId).allSatisfy { $0["status"]?.stringValue != "reserved" })
        let refunds = await events(of: sagaId).filter { $0.isEvent("StepSucceeded", step: "authorize-payment", kind: "compensation") }
        #expect(refunds.count == 1, "one successful refund command")
    }
}
