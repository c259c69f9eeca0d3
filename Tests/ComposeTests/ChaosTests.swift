import Compose
import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import SagaflowCLI
import Synchronization
import TestSupport
import Testing

/// A real cluster on free ports in a temp dir, with a signed admin client, for the chaos tests.
private struct ChaosCluster: Sendable {
    let cluster: Cluster
    let directory: TemporaryDirectory
    let admin: HTTPClient
    let client: HTTPClient

    static let participants = ["orders", "payments", "booking"]

    static func up(_ name: String) async throws -> ChaosCluster {
        let directory = try TemporaryDirectory(name)
        let file = try ComposeFile.load(path: sagaflowComposePath)
        let secret = try #require(file.secret)
        let cluster = try await Cluster.up(
            file, options: ClusterOptions(runDirectory: directory.path, binDirectory: ClusterTests.binDirectory, freePorts: true),
            logger: quietLogger)
        let admin = HTTPClient(configuration: HTTPClientConfiguration(signer: RequestSigner(try #require(SigningSecrets(secret)))))
        return ChaosCluster(cluster: cluster, directory: directory, admin: admin, client: HTTPClient())
    }

    func url(_ service: String) throws -> String { try #require(cluster.url(of: service)) }

    func checker(initialBalances: [String: Int]) throws -> InvariantChecker {
        InvariantChecker(
            orchestratorURL: try url("orchestrator"), ordersURL: try url("orders"), paymentsURL: try url("payments"),
            bookingURL: try url("booking"), initialBalances: initialBalances)
    }

    /// PUT the fault plan on one participant, retrying while it restarts.
    func setFaults(_ plan: JSONValue, on service: String) async throws {
        let target = try url(service)
        try await waitUntil("faults set on \(service)", timeout: .seconds(30)) {
            (try? await admin.put("\(target)/admin/faults", json: plan, timeout: .seconds(5)).status) == 200
        }
    }

    func clearFaults() async throws {
        for service in Self.participants {
            let target = try url(service)
            try await waitUntil("faults cleared on \(service)", timeout: .seconds(30)) {
                (try? await admin.delete("\(target)/admin/faults", timeout: .seconds(5)).status) == 204
            }
        }
    }

    /// Starts one place-order saga, retrying the POST with the same idempotency key until the orchestrator answers.
    func startSaga(key: String) async throws -> String {
        let body: JSONValue = [
            "type": "place-order", "idempotencyKey": .string(key),
            "input": ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 1],
        ]
        let api = try url("orchestrator")
        var id: String?
        try await waitUntil("saga \(key) to start", timeout: .seconds(60)) {
            guard let response = try? await client.post("\(api)/sagas", json: body, timeout: .seconds(10)),
                response.status == 200 || response.status == 201
            else { return false }
            id = (try? response.decode(JSONValue.self))?["id"]?.stringValue
            return id != nil
        }
        return try #require(id)
    }

    /// Waits until saga `id` ended (completed, compensated or failed), riding out orchestrator restarts.
    func awaitEnd(of id: String) async throws {
        let api = try url("orchestrator")
        try await waitUntil("saga \(id) to end", timeout: .seconds(120), interval: .milliseconds(50)) {
            guard let response = try? await client.get("\(api)/sagas/\(id)", timeout: .seconds(5)), response.status == 200,
                let status = (try? response.decode(JSONValue.self))?["status"]?.stringValue
            else { return false }
            return status != "running" && status != "compensating"
        }
    }

    /// SIGKILLs `service` and waits until the supervisor restarted it and it is healthy.
    func killAndAwaitRestart(_ service: String) async throws {
        let before = cluster.restarts[service] ?? 0
        let pid = cluster.pid(of: service)
        cluster.kill(service)
        try await waitUntil("\(service) to be restarted", timeout: .seconds(60)) {
            (cluster.restarts[service] ?? 0) > before && cluster.pid(of: service) != nil && cluster.pid(of: service) != pid
        }
        try await cluster.waitHealthy(service, timeout: .seconds(60))
    }

    /// A saga's events, one line each, for a failure message.
    func history(of sagaId: String) async throws -> String {
        let response = try await client.get("\(try url("orchestrator"))/sagas/\(sagaId)/events")
        guard case .array(let events) = try response.decode(JSONValue.self) else { return "?" }
        return events.map { event in
            let data = event["data"]
            let detail = [data?["step"]?.stringValue, data?["kind"]?.stringValue, data?["commandId"]?.stringValue,
                data?["reason"]?.stringValue, data?["error"]?["code"]?.stringValue, data?["error"]?["message"]?.stringValue, data?["definitive"].map { "definitive=\($0)" }]
                .compactMap { $0 }.joined(separator: " ")
            return "  \(event["version"]?.intValue ?? -1) \(event["recordedAt"]?.stringValue ?? "") \(event["type"]?.stringValue ?? "?") \(detail)"
        }.joined(separator: "\n")
    }

    func down() async {
        admin.shutdown()
        client.shutdown()
        await cluster.down(grace: .seconds(2))
        directory.remove()
    }
}

/// What the client workers share: the ids started so far and the next saga number.
private final class ChaosProgress: Sendable {
    let started = Mutex<[String]>([])
    let next = Atomic<Int>(0)
}

@Suite("Chaos: real processes, faults and kills, then the invariant checker", .serialized)
struct ChaosTests {
    /// About 20% of commands faulted: 503s, replies lost after commit, delays, and business failures.
    static func faultPlan(seed: Int) -> JSONValue {
        [
            "seed": .number(Double(seed)),
            "rules": [
                ["command": "*", "unavailable": 0.05],
                ["command": "*", "drop": "after-commit", "rate": 0.05],
                ["command": "*", "delayMs": 50, "rate": 0.05],
                ["command": "ReserveSeats", "kind": "action", "fail": 0.05, "code": "sold_out"],
            ],
        ]
    }

    @Test(.timeLimit(.minutes(10)))
    func threeHundredSagasThroughFaultsAndKillsKeepEveryInvariant() async throws {
        let sagaCount = 300
        let concurrency = 16
        let kills = ["orchestrator", "payments", "orchestrator", "booking", "orders", "orchestrator"]
        let env = try await ChaosCluster.up("chaos-run")
        do {
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            let plan = Self.faultPlan(seed: Int.random(in: 1...1_000_000))
            for service in ChaosCluster.participants { try await env.setFaults(plan, on: service) }

            let progress = ChaosProgress()
            let run = UUID().uuidString.prefix(8)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The killer: one kill each time another sixth of the sagas has started (progress, not time).
                group.addTask {
                    for (index, service) in kills.enumerated() {
                        let threshold = (index + 1) * sagaCount / (kills.count + 1)
                        try await waitUntil("\(threshold) sagas started", timeout: .seconds(300)) {
                            progress.started.withLock { $0.count } >= threshold
                        }
                        try await env.killAndAwaitRestart(service)
                        // A restarted participant has forgotten its faults: set them again.
                        if service != "orchestrator" { try await env.setFaults(plan, on: service) }
                    }
                }
                // The clients: `concurrency` workers, each starting the next saga and waiting for its end, so
                // the kills land through the whole run and every saga runs under the fault plan.
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let number = progress.next.add(1, ordering: .relaxed).oldValue
                            guard number < sagaCount else { return }
                            let id = try await env.startSaga(key: "chaos-\(run)-\(number)")
                            progress.started.withLock { $0.append(id) }
                            try await env.awaitEnd(of: id)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(env.cluster.restarts.values.reduce(0, +) >= kills.count, "\(env.cluster.restarts)")

            try await env.clearFaults()
            let ids = progress.started.withLock { $0 }
            #expect(Set(ids).count == sagaCount)
            let report = try await env.checker(initialBalances: initial).check(sagaIds: ids, terminalWithin: .seconds(180))
            print("chaos run: \(sagaCount) sagas, restarts \(env.cluster.restarts.sorted { $0.key < $1.key })\n\(report)")
            #expect(report.violations.isEmpty, "\(report)")
            #expect(report.counts["completed", default: 0] > 0)
            #expect(report.counts["compensated", default: 0] > 0, "5% of reservations fail: some sagas must roll back")
            for sagaId in Set(report.violations.compactMap(\.sagaId)).sorted().prefix(5) {
                print("events of \(sagaId):\n\(try await env.history(of: sagaId))")
            }
        } catch {
            await env.down()
            throw error
        }
        await env.down()
    }

    @Test(.timeLimit(.minutes(5)))
    func theCheckerReportsADoubleCharge() async throws {
        let env = try await ChaosCluster.up("chaos-broken")
        do {
            let initial = try await InvariantChecker.balances(paymentsURL: try env.url("payments"))
            var ids: [String] = []
            for number in 0..<5 { ids.append(try await env.startSaga(key: "clean-\(number)")) }
            let checker = try env.checker(initialBalances: initial)
            let clean = try await checker.check(sagaIds: ids, terminalWithin: .seconds(60))
            #expect(clean.violations.isEmpty, "\(clean)")
            #expect(clean.counts == ["completed": 5], "\(clean)")

            // A second charge for the first saga's order, sent straight to payments as a new command.
            let saga = try await env.client.get("\(try env.url("orchestrator"))/sagas/\(ids[0])").decode(JSONValue.self)
            let orderId = try #require(saga["context"]?["orderId"]?.stringValue)
            let command = CommandEnvelope(
                id: "cmd-extra-\(UUID().uuidString)", sagaId: ids[0], sagaType: "place-order", step: "extra-charge",
                type: "AuthorizePayment", kind: .action, payload: ["orderId": .string(orderId), "customerId": "alice", "amount": 1])
            let response = try await env.admin.post("\(try env.url("payments"))/commands", json: command)
            #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")

            let broken = try await checker.check(sagaIds: ids, terminalWithin: .seconds(10))
            print("after an injected double charge:\n\(broken)")
            #expect(broken.violations.count == 1, "\(broken)")
            #expect(broken.violations.contains { $0.sagaId == ids[0] && $0.rule == "completed-effects" && $0.detail.contains("2 authorized payments") })
        } catch {
            await env.down()
            throw error
        }
        await env.down()
    }

    @Test func theStreamRulesCatchAGapAndCompensationsOutOfOrder() {
        let definition: JSONValue = ["steps": [["name": "a"], ["name": "b"], ["name": "c"]]]
        func event(_ version: Int, _ type: String, _ data: JSONValue = .emptyObject) -> JSONValue {
            ["version": .number(Double(version)), "type": .string(type), "data": data]
        }
        let good: [JSONValue] = [
            event(0, "SagaStarted", ["definition": definition]),
            event(1, "StepDispatched", ["step": "b", "kind": "compensation"]),
            event(2, "StepDispatched", ["step": "b", "kind": "compensation"]),
            event(3, "StepDispatched", ["step": "a", "kind": "compensation"]),
        ]
        #expect(InvariantChecker.streamViolations(sagaId: "s", events: good).isEmpty)

        let gap = [good[0], good[1], good[3]]
        #expect(InvariantChecker.streamViolations(sagaId: "s", events: gap).map(\.rule) == ["contiguous-stream"])

        let outOfOrder: [JSONValue] = [
            good[0],
            event(1, "StepDispatched", ["step": "a", "kind": "compensation"]),
            event(2, "StepDispatched", ["step": "b", "kind": "compensation"]),
        ]
        #expect(InvariantChecker.streamViolations(sagaId: "s", events: outOfOrder).map(\.rule) == ["compensations-newest-first"])
    }
}
