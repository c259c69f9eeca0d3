import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import ServiceKit
import TestSupport

/// A participant running in-process on a free port with its own data directory.
final class ParticipantFixture: Sendable {
    let participant: Participant
    let task: Task<Void, any Error>
    let directory: String

    var url: String { "http://127.0.0.1:\(participant.port)" }

    static func start(
        _ definition: ParticipantDefinition, directory: String, environment: [String: String] = [:]
    ) async throws -> ParticipantFixture {
        var env = ["HTTP_PORT": "0", "DATA_DIR": directory]
        env.merge(environment) { _, new in new }
        let settings = try ParticipantSettings(
            name: definition.name, defaultPort: 0, reader: ParticipantSettings.reader(arguments: [], environment: env))
        var logger = Logger(label: "test.\(definition.name)")
        logger.logLevel = .warning
        let participant = try await Participant.start(definition, settings: settings, logger: logger)
        let task = Task { try await participant.run(handleSignals: false) }
        return ParticipantFixture(participant: participant, task: task, directory: directory)
    }

    init(participant: Participant, task: Task<Void, any Error>, directory: String) {
        self.participant = participant
        self.task = task
        self.directory = directory
    }

    /// Stops serving and waits until the server and relay have returned.
    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// Builds commands for tests, one saga id per test unless given.
struct CommandFactory {
    var sagaId = "s-\(UUID().uuidString.lowercased())"

    func command(
        _ type: String, step: String, kind: CommandKind = .action, payload: JSONValue, id: String? = nil,
        replyTo: String? = nil
    ) -> CommandEnvelope {
        CommandEnvelope(
            id: id ?? "c-\(UUID().uuidString.lowercased())", sagaId: sagaId, sagaType: "place-order", step: step, type: type,
            kind: kind, payload: payload, replyTo: replyTo)
    }
}

extension HTTPClient {
    /// Sends a command and decodes the synchronous reply.
    func send(_ command: CommandEnvelope, to url: String) async throws -> Reply {
        let response = try await post("\(url)/commands", json: command)
        guard response.status == 200 else {
            throw Problem(status: response.status, code: "unexpected_status", title: String(decoding: response.body, as: UTF8.self))
        }
        return try response.decode(Reply.self)
    }
}
