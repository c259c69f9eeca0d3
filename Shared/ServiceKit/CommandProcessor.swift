import Foundation
import GRDB
import Logging
import SagaHTTP
import SagaProtocol

/// How the participant answers one command over HTTP.
enum CommandAnswer: Sendable, Equatable {
    /// 200 with this reply, as the inbox keeps it (JSON): encoded once, for the inbox and the answer alike.
    case reply(Data)
    /// 202: the reply goes through the outbox to `replyTo`.
    case accepted
    /// Close the connection without answering (injected fault).
    case drop
}

/// Applies commands exactly once: inbox row, state change and outbox rows in one local transaction (shared with
/// the commands that arrive together, each in its own savepoint: one fsync for them all).
struct CommandProcessor: Sendable {
    let writer: GroupCommitWriter
    let handlers: CommandHandlers
    let faults: FaultInjector
    let relay: OutboxRelay
    let asyncReplies: Bool
    let eventsURL: String?
    let logger: Logger

    func process(_ command: CommandEnvelope) async throws -> CommandAnswer {
        let fault = faults.decide(for: command)
        if let delay = fault.delay { try await Task.sleep(for: delay) }
        if fault.unavailable {
            throw Problem(status: 503, code: "unavailable", title: "Service unavailable", detail: "injected fault")
        }
        if fault.drop == .beforeCommit { return .drop }
        if fault.crash == .beforeCommit { crash(command, point: .beforeCommit) }
        guard let handler = handlers.handler(for: command) else {
            throw Problem(
                status: 422, code: "unknown_command", title: "Unknown command",
                detail: "no \(command.kind.rawValue) handler for '\(command.type)'; known: \(handlers.commandTypes.joined(separator: ", "))")
        }
        let replyAsynchronously = asyncReplies && command.replyTo != nil
        let eventsURL = self.eventsURL
        let (reply, isNew) = try await writer.write { db -> (Data, Bool) in
            if let stored = try Self.storedReply(db, commandId: command.id) { return (stored, false) }
            let now = Date()
            let reply = try Self.apply(command, handler: handler, injectedFailure: fault.failure, db: db, now: now, eventsURL: eventsURL)
            guard let reply else { return (try JSONCoding.encode(Reply.failed(command, fault.failure!)), false) }
            let encoded = try JSONCoding.encode(reply)
            try db.cachedStatement(
                sql: """
                    INSERT INTO inbox (command_id, saga_id, step, kind, type, outcome, reply, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(
                arguments: [
                    command.id, command.sagaId, command.step, command.kind.rawValue, command.type,
                    reply.outcome.rawValue, encoded, now.timeIntervalSince1970,
                ])
            if replyAsynchronously, let replyTo = command.replyTo {
                try Outbox.enqueue(db, kind: .reply, destination: replyTo, orderingKey: command.sagaId, body: encoded, now: now)
            }
            return (encoded, true)
        }
        if isNew { relay.notify() }
        if fault.crash == .afterCommit { crash(command, point: .afterCommit) }
        if fault.drop == .afterCommit { return .drop }
        return isNew && replyAsynchronously ? .accepted : .reply(reply)
    }

    /// The reply recorded for `commandId`, as stored (JSON); nil for a command not seen before.
    static func storedReply(_ db: Database, commandId: String) throws -> Data? {
        try Data.fetchOne(db.cachedStatement(sql: "SELECT reply FROM inbox WHERE command_id = ?"), arguments: [commandId])
    }

    /// The reply to a command seen for the first time, with its effects written; nil for an injected compensation
    /// failure, which is not recorded (compensations are retried until they succeed).
    static func apply(
        _ command: CommandEnvelope, handler: CommandHandler, injectedFailure: ReplyError?, db: Database, now: Date,
        eventsURL: String?
    ) throws -> Reply? {
        switch command.kind {
        case .action:
            let compensated = try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM tombstones WHERE saga_id = ? AND step = ?"), arguments: [command.sagaId, command.step])
            if compensated == true {
                return .failed(command, ReplyError(code: "compensated", message: "step already compensated; action refused"))
            }
            if let injectedFailure { return .failed(command, injectedFailure) }
        case .compensation:
            if injectedFailure != nil { return nil }
            try db.execute(
                sql: "INSERT OR IGNORE INTO tombstones (saga_id, step, command_id, created_at) VALUES (?, ?, ?, ?)",
                arguments: [command.sagaId, command.step, command.id, now.timeIntervalSince1970])
            let actionSucceeded = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM inbox WHERE saga_id = ? AND step = ? AND kind = 'action' AND outcome = 'succeeded'",
                arguments: [command.sagaId, command.step])
            if actionSucceeded != true {
                return .succeeded(command, output: .object(["noop": .bool(true)]))
            }
        }
        var result: CommandResult = .succeeded(.emptyObject)
        try db.inSavepoint {
            result = try handler(CommandContext(command: command, db: db, now: now, eventsURL: eventsURL))
            if case .failed = result { return .rollback }
            return .commit
        }
        switch result {
        case .succeeded(let output): return .succeeded(command, output: output)
        case .failed(let error): return .failed(command, error)
        }
    }

    private func crash(_ command: CommandEnvelope, point: FaultPoint) -> Never {
        logger.critical(
            "injected crash", metadata: ["command.id": "\(command.id)", "command.type": "\(command.type)", "fault.point": "\(point.rawValue)"])
        fflush(nil)
        _exit(86)
    }
}
