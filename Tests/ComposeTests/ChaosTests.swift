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

@Suite("Chaos: real processes, faults and kills, then the invariant checker", .serialized)
struct ChaosTests {
    /// The CI-sized run of `sagaflow chaos`: 300 sagas, about 20% of commands faulted (injected crashes included),
    /// 6 SIGKILLs spread over the orchestrator and the participants.
    @Test(.timeLimit(.minutes(10)))
    func threeHundredSagasThroughFaultsAndKillsKeepEveryInvariant() async throws {
        let env = try await ChaosCluster.up("chaos-run")
        do {
            var options = ChaosOptions()
            options.sagas = 300
            options.concurrency = 16
            options.kills = 6
            options.seed = UInt64.random(in: 1...999_999)
            let file = try ComposeFile.load(path: sagaflowComposePath)
            let cluster = env.cluster
            let target = ChaosTarget(
                urls: Dictionary(uniqueKeysWithValues: ChaosRun.killable.compactMap { name in cluster.url(of: name).map { (name, $0) } }),
                pid: { cluster.pid(of: $0) }, restarts: { cluster.restarts },
                signer: SigningSecrets(file.secret).map(RequestSigner.init))
            let report = try await ChaosRun(options: options, target: target).run()
            print("chaos run, seed \(options.seed):\n\(report)")
            #expect(report.ok, "seed \(options.seed): \(report)")
            #expect(report.sagaIds.count == 300 && Set(report.sagaIds).count == 300)
            #expect(report.kills.count == 6 && report.kills.contains("orchestrator"), "\(report.kills)")
            #expect(report.restarts.values.reduce(0, +) >= 6, "\(report.restarts)")
            #expect(report.invariants.counts["completed", default: 0] > 0)
            #expect(report.invariants.counts["compensated", default: 0] > 0, "5% of reservations fail: some sagas must roll back")
            for sagaId in Set(report.invariants.violations.compactMap(\.sagaId)).sorted().prefix(5) {
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

    @Test func theStreamRulesCatchAGapCompensationsOutOfOrderAndAMissingCompensation() {
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

        // Both compensable steps succeeded, the saga says compensated, but only b's compensation succeeded.
        let undo: JSONValue = ["steps": [["name": "a", "compensation": "UndoA"], ["name": "b", "compensation": "UndoB"], ["name": "c"]]]
        var missing: [JSONValue] = [
            event(0, "SagaStarted", ["definition": undo]),
            event(1, "StepSucceeded", ["step": "a", "kind": "action"]),
            event(2, "StepSucceeded", ["step": "b", "kind": "action"]),
            event(3, "StepSucceeded", ["step": "b", "kind": "compensation"]),
            event(4, "SagaCompensated"),
        ]
        let violations = InvariantChecker.streamViolations(sagaId: "s", events: missing)
        #expect(violations.map(\.rule) == ["compensation-missing"])
        #expect(violations.first?.detail.contains("a") == true)
        missing.insert(event(4, "StepSucceeded", ["step": "a", "kind": "compensation"]), at: 4)
        missing[5] = event(5, "SagaCompensated")
        #expect(InvariantChecker.streamViolations(sagaId: "s", events: missing).isEmpty)
    }
}
