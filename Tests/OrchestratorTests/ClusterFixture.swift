import BookingService
import Foundation
import Logging
import OrchestratorService
import OrdersService
import PaymentsService
import SagaHTTP
import SagaProtocol
import ServiceKit
import Synchronization
import TestSupport

/// The orchestrator and the three demo participants, in-process on free ports, sharing one temp directory.
final class ClusterFixture: Sendable {
    struct Running: Sendable {
        var participant: Participant
        var task: Task<Void, any Error>
    }

    let directory: TemporaryDirectory
    let participants: [String: Running]
    let client = HTTPClient()
    let secret = "cluster-secret"
    let orchestrator: Mutex<(orchestrator: Orchestrator, task: Task<Void, any Error>)?> = Mutex(nil)

    static let sagasDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("compose/sagas").path

    /// Starts everything; `participantEnvironment` adds settings per service (faults, reply mode).
    static func start(
        participantEnvironment: [String: [String: String]] = [:], startOrchestrator: Bool = true,
        sagasDirectory: String = ClusterFixture.sagasDirectory
    ) async throws -> ClusterFixture {
        let directory = try TemporaryDirectory("sagaflow-cluster")
        var participants: [String: Running] = [:]
        for definition in [OrdersService.definition, PaymentsService.definition, BookingService.definition] {
            var env = [
                "HTTP_PORT": "0", "DATA_DIR": "\(directory.path)/\(definition.name)", "SAGAFLOW_SECRET": "cluster-secret",
                "ADMIN_ENABLED": "true",
            ]
            env.merge(participantEnvironment[definition.name] ?? [:]) { _, new in new }
            let settings = try ParticipantSettings(
                name: definition.name, defaultPort: 0, reader: ParticipantSettings.reader(arguments: [], environment: env))
            let participant = try await Participant.start(definition, settings: settings, logger: quietLogger(definition.name))
            participants[definition.name] = Running(participant: participant, task: Task { try await participant.run(handleSignals: false) })
        }
        let cluster = ClusterFixture(directory: directory, participants: participants, sagas: sagasDirectory)
        if startOrchestrator { try await cluster.startOrchestrator() }
        return cluster
    }

    init(directory: TemporaryDirectory, participants: [String: Running], sagas: String) {
        self.directory = directory
        self.participants = participants
        self.sagas = sagas
    }

    /// The saga definitions directory the orchestrator loads.
    let sagas: String

    func url(_ service: String) -> String { "http://127.0.0.1:\(participants[service]!.participant.port)" }

    var orchestratorURL: String { "http://127.0.0.1:\(orchestrator.withLock { $0!.orchestrator.port })" }

    /// The orchestrator's settings for this cluster, as environment variables.
    var orchestratorEnvironment: [String: String] {
        var env = ["HTTP_PORT": "0", "DATA_DIR": "\(directory.path)/orchestrator", "SAGAS_DIR": sagas, "SAGAFLOW_SECRET": secret]
        for name in participants.keys { env["SERVICES_\(name.uppercased())_URL"] = url(name) }
        return env
    }

    /// Starts (or restarts) the orchestrator on the same data directory.
    func startOrchestrator() async throws {
        let env = orchestratorEnvironment
        let settings = try OrchestratorSettings(reader: OrchestratorSettings.reader(arguments: [], environment: env))
        let started = try await Orchestrator.start(settings: settings, logger: quietLogger("orchestrator"))
        let task = Task { try await started.run(handleSignals: false) }
        orchestrator.withLock { $0 = (started, task) }
    }

    /// Stops the orchestrator and waits until it has closed its store.
    func stopOrchestrator() async {
        guard let running = orchestrator.withLock({ $0 }) else { return }
        running.task.cancel()
        _ = await running.task.result
    }

    func stop() async {
        await stopOrchestrator()
        for running in participants.values {
            running.task.cancel()
            _ = await running.task.result
        }
        client.shutdown()
        directory.remove()
    }

    /// A client that signs like a participant does (for admin calls and forged-reply tests).
    var signedClient: HTTPClient {
        HTTPClient(configuration: HTTPClientConfiguration(signer: RequestSigner(SigningSecrets(secret)!)))
    }

    /// Starts a place-order saga and waits for its end (`Prefer: wait`).
    func placeOrder(_ input: JSONValue, wait: Bool = true) async throws -> SagaSnapshot {
        let response = try await client.post(
            "\(orchestratorURL)/sagas", json: ["type": "place-order", "input": input] as JSONValue,
            headers: wait ? [("Prefer", "wait=20")] : [], timeout: .seconds(30))
        guard response.status == 201 else { throw Problem(status: response.status, code: "unexpected", title: String(decoding: response.body, as: UTF8.self)) }
        return try response.decode(SagaSnapshot.self)
    }

    func saga(_ id: String) async throws -> SagaSnapshot {
        try await client.get("\(orchestratorURL)/sagas/\(id)").decode(SagaSnapshot.self)
    }
}

/// The parts of a saga view the tests read.
struct SagaSnapshot: Decodable {
    var definitionHash: String

    struct Step: Decodable {
        var name: String
        var status: String
        var attempts: Int
    }

    var id: String
    var status: SagaStatus
    var context: JSONValue
    var steps: [Step]

    func step(_ name: String) -> Step? { steps.first { $0.name == name } }
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .error
    return logger
}
