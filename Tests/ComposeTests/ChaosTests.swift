import Compose
import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import SagaflowCLI
import Synchronization
import TestSupport
import Testing

@Suite("Chaos: real processes, faults and kills, then the invariant checker", .serialized)
struct ChaosTests {
    /// The CI-sized run of `sagaflow chaos`: 300 sagas, about 20% of commands faulted (injected crashes included),
    /// 6 SIGKILLs spread over the orchestrator and the participants.
    @Test(.timeLimit(.minutes(10)))
    func threeHundredSagasThroughFaultsAndKillsKeepEveryInvariant() async throws {
        let env = try await TestCluster.up("chaos-run")
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
        let env = try await TestCluster.up("chaos-broken")
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
