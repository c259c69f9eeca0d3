import Compose
import Foundation
import SagaHTTP
import SagaProtocol
import SagaflowCLI
import TestSupport
import Testing

/// A real cluster on free ports in a temp dir, with a signed admin client, for the chaos and end-to-end tests.
struct TestCluster: Sendable {
    let cluster: Cluster
    let directory: TemporaryDirectory
    let admin: HTTPClient
    let client: HTTPClient

    static let participants = ["orders", "payments", "booking"]

    /// Starts `compose/sagaflow.yml` in a fresh temp dir, after `configure` adapted the file (it gets the run
    /// directory, for files it writes there).
    static func up(
        _ name: String, configure: (inout ComposeFile, _ runDirectory: String) throws -> Void = { _, _ in }
    ) async throws -> TestCluster {
        let directory = try TemporaryDirectory(name)
        do {
            var file = try ComposeFile.load(path: sagaflowComposePath)
            try configure(&file, directory.path)
            let secret = try #require(file.secret)
            let cluster = try await Cluster.up(
                file, options: ClusterOptions(runDirectory: directory.path, binDirectory: ClusterTests.binDirectory, freePorts: true),
                logger: quietLogger)
            let admin = HTTPClient(configuration: HTTPClientConfiguration(signer: RequestSigner(try #require(SigningSecrets(secret)))))
            return TestCluster(cluster: cluster, directory: directory, admin: admin, client: HTTPClient())
        } catch {
            directory.remove()
            throw error
        }
    }

    /// Runs `body` against a fresh cluster, then takes the cluster down and removes its directory, also when `body` throws.
    static func run(
        _ name: String, configure: (inout ComposeFile, _ runDirectory: String) throws -> Void = { _, _ in },
        _ body: (TestCluster) async throws -> Void
    ) async throws {
        let env = try await up(name, configure: configure)
        do {
            try await body(env)
        } catch {
            await env.down()
            throw error
        }
        await env.down()
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

    /// Starts one place-order saga, retrying the POST with the same idempotency key until the orchestrator answers.
    func startSaga(
        key: String, input: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 1]
    ) async throws -> String {
        let body: JSONValue = ["type": "place-order", "idempotencyKey": .string(key), "input": input]
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
    func awaitEnd(of id: String, timeout: Duration = .seconds(120)) async throws {
        let api = try url("orchestrator")
        try await waitUntil("saga \(id) to end", timeout: timeout, interval: .milliseconds(50)) {
            guard let response = try? await client.get("\(api)/sagas/\(id)", timeout: .seconds(5)), response.status == 200,
                let status = (try? response.decode(JSONValue.self))?["status"]?.stringValue
            else { return false }
            return status != "running" && status != "compensating"
        }
    }

    /// The saga view (`GET /sagas/{id}`).
    func saga(_ id: String) async throws -> JSONValue {
        let response = try await client.get("\(try url("orchestrator"))/sagas/\(id)")
        try #require(response.status == 200, "GET /sagas/\(id): HTTP \(response.status)")
        return try response.decode(JSONValue.self)
    }

    /// The saga's events (`GET /sagas/{id}/events`); empty while it does not exist or the orchestrator is away.
    func events(of sagaId: String) async -> [JSONValue] {
        guard let api = cluster.url(of: "orchestrator"),
            let response = try? await client.get("\(api)/sagas/\(sagaId)/events", timeout: .seconds(5)), response.status == 200,
            case .array(let events) = try? response.decode(JSONValue.self)
        else { return [] }
        return events
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
