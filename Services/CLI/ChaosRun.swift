import Foundation
public import SagaProtocol
import SagaHTTP
import Synchronization

/// What a chaos run does: how many sagas, how hard it pushes, what it injects.
public struct ChaosOptions: Sendable {
    /// Sagas to start, each by a closed-loop client that waits for its end before starting the next.
    public var sagas = 300
    /// Clients running at once.
    public var concurrency = 16
    /// Seeds the fault draws and the choice of services to kill, so a run repeats.
    public var seed: UInt64 = 1
    /// SIGKILLs, spread evenly over the run's progress; the services take turns in a seeded order.
    public var kills = 6
    /// Scales every fault probability of `ChaosRun.faultPlan` (1: about 20% of commands faulted; 0: none).
    public var faultScale = 1.0
    /// How long one saga may take to end, restarts included, before the run counts it as stuck.
    public var sagaTimeout: Duration = .seconds(120)
    /// The input of every `place-order` saga.
    public var input: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 1]

    public init() {}
}

/// The cluster a chaos run targets: base URLs, live pids (a restart changes them) and restart counts.
public struct ChaosTarget: Sendable {
    public var urls: [String: String]
    public var pid: @Sendable (String) -> Int32?
    public var restarts: @Sendable () -> [String: Int]
    /// Signs `PUT /admin/faults`; nil for a cluster that runs without a secret.
    public var signer: RequestSigner?

    public init(
        urls: [String: String], pid: @escaping @Sendable (String) -> Int32?, restarts: @escaping @Sendable () -> [String: Int],
        signer: RequestSigner?
    ) {
        self.urls = urls
        self.pid = pid
        self.restarts = restarts
        self.signer = signer
    }

    func url(_ service: String) throws -> String {
        guard let url = urls[service] else { throw InvariantCheckError("the cluster has no service '\(service)'") }
        return url
    }
}

/// What a chaos run saw, then what the invariant checker found.
public struct ChaosReport: Sendable, CustomStringConvertible {
    public var sagaIds: [String]
    /// Services killed by the run, in order.
    public var kills: [String]
    /// Restarts per service during the run: the kills plus the crashes the fault plan injected.
    public var restarts: [String: Int]
    /// Fault plans (re)applied: at the start and after each restart of a participant.
    public var faultPlansApplied: Int
    /// Sagas that ended `failed` (compensation exhausted while a participant was down) and were retried with
    /// `POST /sagas/{id}/retry` once the faults were cleared, before the final check.
    public var operatorRetries: [String]
    public var seconds: Double
    public var invariants: InvariantReport

    public var ok: Bool { invariants.ok }

    public var description: String {
        let restarts = restarts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return """
            \(sagaIds.count) sagas in \(String(format: "%.1f", seconds)) s; SIGKILLs: \(kills.isEmpty ? "none" : kills.joined(separator: ", "))
            restarts (kills + injected crashes): \(restarts.isEmpty ? "none" : restarts); fault plans applied: \(faultPlansApplied)
            failed sagas retried by the operator step after the faults: \(operatorRetries.count)
            \(invariants)
            """
    }
}

/// Starts sagas against a cluster while injecting faults on every participant and SIGKILLing services, then
/// clears the faults and runs the `InvariantChecker`. Used by `sagaflow chaos` and by the chaos tests.
public struct ChaosRun: Sendable {
    public static let participants = ["orders", "payments", "booking"]
    public static let killable = ["orchestrator"] + participants

    public var options: ChaosOptions
    public var target: ChaosTarget
    /// Called with (sagas ended, sagas in all) as the run progresses.
    public var progress: @Sendable (Int, Int) -> Void

    public init(options: ChaosOptions, target: ChaosTarget, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.options = options
        self.target = target
        self.progress = progress
    }

    /// About 20% of commands faulted at scale 1: business failures, 503s, delays beyond the payment step's 2 s
    /// timeout, replies lost before and after the commit, and crashes before and after the commit.
    public static func faultPlan(seed: UInt64, scale: Double = 1) -> JSONValue {
        func p(_ value: Double) -> JSONValue { .number(min(1, value * scale)) }
        return [
            "seed": .number(Double(seed % (1 << 53))),
            "rules": [
                ["command": "ReserveSeats", "kind": "action", "fail": p(0.05), "code": "sold_out"],
                ["command": "*", "unavailable": p(0.05)],
                ["command": "AuthorizePayment", "delayMs": 2500, "rate": p(0.02)],
                ["command": "*", "drop": "before-commit", "rate": p(0.02)],
                ["command": "*", "drop": "after-commit", "rate": p(0.04)],
                ["command": "*", "delayMs": 50, "rate": p(0.03)],
                ["command": "*", "crash": "before-commit", "rate": p(0.0005)],
                ["command": "*", "crash": "after-commit", "rate": p(0.001)],
            ],
        ]
    }

    /// Runs the whole thing; throws only when the run itself could not go on (a service that never came back).
    public func run() async throws -> ChaosReport {
        let started = ContinuousClock.now
        let admin = HTTPClient(configuration: HTTPClientConfiguration(signer: target.signer))
        let client = HTTPClient()
        defer {
            admin.shutdown()
            client.shutdown()
        }
        let initialBalances = try await InvariantChecker.balances(paymentsURL: try target.url("payments"))
        let restartsBefore = target.restarts()
        let state = RunState()
        let keeper = FaultKeeper(run: self, admin: admin)
        try await keeper.applyWhereNeeded(force: true)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await keeper.keepApplied(until: state) }
            group.addTask { try await self.kill(client: client, state: state) }
            defer { state.finished.store(true, ordering: .releasing) }
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for _ in 0..<options.concurrency {
                    clients.addTask { try await self.client(client, state: state) }
                }
                try await clients.waitForAll()
            }
            state.finished.store(true, ordering: .releasing)
            try await group.waitForAll()
        }

        for service in Self.killable { try await awaitHealthy(service, client: client) }
        try await keeper.clear()
        let ids = state.ids.withLock { $0 }
        let checker = InvariantChecker(
            orchestratorURL: try target.url("orchestrator"), ordersURL: try target.url("orders"),
            paymentsURL: try target.url("payments"), bookingURL: try target.url("booking"), initialBalances: initialBalances)
        var invariants = try await checker.check(sagaIds: ids, terminalWithin: options.sagaTimeout)
        // A saga whose compensation failed `maxCompensationAttempts` times in a row (a participant down too long)
        // waits `failed` for an operator: do what the operator would, now that the faults are gone, and check again.
        let failed = try await failedSagas(ids, client: client)
        if !failed.isEmpty {
            for id in failed {
                _ = try await poll("saga \(id) to accept the operator's retry", timeout: .seconds(60)) { () -> Bool? in
                    let response = try? await client.post("\(try target.url("orchestrator"))/sagas/\(id)/retry", json: JSONValue.emptyObject, timeout: .seconds(10))
                    return response.map { $0.status == 202 || $0.status == 409 } == true ? true : nil
                }
            }
            invariants = try await checker.check(sagaIds: ids, terminalWithin: options.sagaTimeout)
        }
        let restarts = target.restarts().reduce(into: [String: Int]()) { result, entry in
            let delta = entry.value - (restartsBefore[entry.key] ?? 0)
            if delta > 0 { result[entry.key] = delta }
        }
        return ChaosReport(
            sagaIds: ids, kills: state.kills.withLock { $0 }, restarts: restarts,
            faultPlansApplied: keeper.applied.load(ordering: .relaxed), operatorRetries: failed,
            seconds: (ContinuousClock.now - started).inSeconds, invariants: invariants)
    }

    /// The sagas among `ids` whose status is `failed`.
    private func failedSagas(_ ids: [String], client: HTTPClient) async throws -> [String] {
        let api = try target.url("orchestrator")
        var failed: [String] = []
        var after = 0
        // The list endpoint pages through every saga of the cluster; keep those of this run.
        let mine = Set(ids)
        while true {
            let response = try await client.get("\(api)/sagas?status=failed&limit=1000&after=\(after)", timeout: .seconds(30))
            let page = try response.decode(JSONValue.self)
            guard case .array(let items)? = page["items"] else { break }
            failed += items.compactMap { $0["id"]?.stringValue }.filter { mine.contains($0) }
            guard let next = page["next"]?.intValue else { break }
            after = next
        }
        return failed
    }

    /// One closed-loop client: start the next saga, wait for its end, repeat.
    private func client(_ client: HTTPClient, state: RunState) async throws {
        let api = try target.url("orchestrator")
        while true {
            let number = state.next.add(1, ordering: .relaxed).oldValue
            guard number < options.sagas else { return }
            let body: JSONValue = [
                "type": "place-order", "idempotencyKey": .string("chaos-\(options.seed)-\(state.runId)-\(number)"),
                "input": options.input,
            ]
            // Retried with the same idempotency key until the orchestrator answers (it may be restarting).
            let id = try await poll("saga \(number) to start", timeout: .seconds(60)) { () -> String? in
                guard let response = try? await client.post("\(api)/sagas", json: body, timeout: .seconds(10)),
                    response.status == 200 || response.status == 201
                else { return nil }
                return (try? response.decode(JSONValue.self))?["id"]?.stringValue
            }
            state.ids.withLock { $0.append(id) }
            // A saga that does not end in time is not an error here: the checker reports it.
            _ = try? await poll("saga \(id) to end", timeout: options.sagaTimeout) { () -> Bool? in
                guard let response = try? await client.get("\(api)/sagas/\(id)", timeout: .seconds(5)), response.status == 200,
                    let status = (try? response.decode(JSONValue.self))?["status"]?.stringValue,
                    status != "running", status != "compensating"
                else { return nil }
                return true
            }
            let ended = state.ended.add(1, ordering: .relaxed).newValue
            progress(ended, options.sagas)
        }
    }

    /// SIGKILLs `options.kills` services, one each time another equal share of the sagas has ended, and waits
    /// for each to be restarted and healthy.
    private func kill(client: HTTPClient, state: RunState) async throws {
        guard options.kills > 0 else { return }
        var random = SplitMix64(seed: options.seed &+ 0x5EED)
        var order: [String] = []
        for index in 0..<options.kills {
            if order.isEmpty { order = Self.killable.shuffled(using: &random) }
            let service = order.removeFirst()
            let threshold = (index + 1) * options.sagas / (options.kills + 1)
            while state.ended.load(ordering: .relaxed) < threshold {
                if state.finished.load(ordering: .acquiring) { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            // A service between an injected crash and its restart has no pid yet: wait for it.
            let pid = try await poll("\(service) to run", timeout: .seconds(60)) { target.pid(service) }
            Foundation.kill(pid, SIGKILL)
            state.kills.withLock { $0.append(service) }
            _ = try await poll("\(service) to be restarted after SIGKILL", timeout: .seconds(60)) { () -> Bool? in
                guard let now = target.pid(service), now != pid else { return nil }
                return true
            }
            try await awaitHealthy(service, client: client)
        }
    }

    private func awaitHealthy(_ service: String, client: HTTPClient) async throws {
        let url = try target.url(service)
        _ = try await poll("\(service) to be healthy", timeout: .seconds(60)) { () -> Bool? in
            (try? await client.get("\(url)/health", timeout: .seconds(2)))?.status == 200 ? true : nil
        }
    }
}

/// What the clients, the killer and the fault keeper share.
private final class RunState: Sendable {
    let runId = UUID().uuidString.prefix(8).lowercased()
    let ids = Mutex<[String]>([])
    let kills = Mutex<[String]>([])
    let next = Atomic<Int>(0)
    let ended = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
}

/// Keeps the fault plan on every participant: a restarted participant has forgotten it, so it is applied again
/// whenever a participant's pid changes.
private final class FaultKeeper: Sendable {
    let run: ChaosRun
    let admin: HTTPClient
    let appliedTo = Mutex<[String: Int32]>([:])
    let generations = Mutex<[String: Int]>([:])
    let applied = Atomic<Int>(0)

    init(run: ChaosRun, admin: HTTPClient) {
        self.run = run
        self.admin = admin
    }

    func keepApplied(until state: RunState) async throws {
        while !state.finished.load(ordering: .acquiring) {
            try await applyWhereNeeded(force: false)
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Applies the plan to each participant whose process is new since the last time (all when `force`).
    func applyWhereNeeded(force: Bool) async throws {
        for (index, service) in ChaosRun.participants.enumerated() {
            guard let pid = run.target.pid(service), force || appliedTo.withLock({ $0[service] }) != pid else { continue }
            // Each participant, and each of its restarts, draws from its own sequence derived from the run's seed
            // (the same sequence again after a restart would repeat the crash that caused it).
            let generation = UInt64(generations.withLock { generations in
                defer { generations[service, default: 0] += 1 }
                return generations[service, default: 0]
            })
            let seed = run.options.seed &+ UInt64(index + 1) &* 0x9E37_79B9 &+ generation &* 0x85EB_CA6B
            let plan = ChaosRun.faultPlan(seed: seed, scale: run.options.faultScale)
            let url = "\(try run.target.url(service))/admin/faults"
            _ = try await poll("the fault plan to be set on \(service)", timeout: .seconds(60)) { () -> Bool? in
                (try? await admin.put(url, json: plan, timeout: .seconds(5)))?.status == 200 ? true : nil
            }
            appliedTo.withLock { $0[service] = pid }
            applied.add(1, ordering: .relaxed)
        }
    }

    /// Removes the plan from every participant, so compensations still due can finish.
    func clear() async throws {
        for service in ChaosRun.participants {
            let url = "\(try run.target.url(service))/admin/faults"
            _ = try await poll("the fault plan to be cleared on \(service)", timeout: .seconds(60)) { () -> Bool? in
                (try? await admin.delete(url, timeout: .seconds(5)))?.status == 204 ? true : nil
            }
        }
    }
}

/// Calls `attempt` every 50 ms until it returns a value; throws naming `what` after `timeout`.
func poll<T: Sendable>(_ what: String, timeout: Duration, _ attempt: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await attempt() { return value }
        guard ContinuousClock.now < deadline else { throw InvariantCheckError("timed out after \(timeout) waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
