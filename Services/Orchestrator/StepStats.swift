import Foundation
import GRDB
import SagaEngine
import SagaProtocol

/// Per saga type and step: action successes and failures, retries, compensations and action latency, kept by
/// the view projection in the same transaction as the saga view (so it is rebuilt with it from position 0).
enum StepStats {
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE step_stats (
                    saga_type TEXT NOT NULL, step TEXT NOT NULL, ordinal INTEGER NOT NULL,
                    succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, unknown_outcomes INTEGER NOT NULL DEFAULT 0,
                    retries INTEGER NOT NULL DEFAULT 0,
                    compensations INTEGER NOT NULL DEFAULT 0, compensation_failures INTEGER NOT NULL DEFAULT 0,
                    latency_ms_sum REAL NOT NULL DEFAULT 0, latency_count INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (saga_type, step))
                """)
    }

    /// Counts `event` of a saga that was in `previous` before it, appended at `recordedAt`.
    static func record(_ event: SagaEvent, previous: SagaState?, recordedAt: Date, db: Database) throws {
        guard let previous else { return }
        func add(_ step: String, _ assignments: String, _ arguments: StatementArguments = []) throws {
            let ordinal = previous.index(ofStep: step) ?? 0
            // Cached: a handful of distinct statements run for most events.
            try db.cachedStatement(sql: "INSERT INTO step_stats (saga_type, step, ordinal) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .execute(arguments: [previous.sagaType, step, ordinal])
            try db.cachedStatement(sql: "UPDATE step_stats SET \(assignments) WHERE saga_type = ? AND step = ?")
                .execute(arguments: arguments + [previous.sagaType, step])
        }
        switch event {
        case .stepSucceeded(let succeeded) where succeeded.kind == .action:
            if let latency = latency(of: succeeded.commandId, in: previous, endingAt: recordedAt) {
                try add(succeeded.step, "succeeded = succeeded + 1, latency_ms_sum = latency_ms_sum + ?, latency_count = latency_count + 1", [latency])
            } else {
                try add(succeeded.step, "succeeded = succeeded + 1")
            }
        case .stepSucceeded(let succeeded):
            try add(succeeded.step, "compensations = compensations + 1")
        case .stepFailed(let failed) where failed.kind == .action:
            // Definitive refusals; an unknown outcome (timeout, 503, lost reply) is counted apart.
            try add(failed.step, failed.definitive ? "failed = failed + 1" : "unknown_outcomes = unknown_outcomes + 1")
        case .stepFailed(let failed):
            try add(failed.step, "compensation_failures = compensation_failures + 1")
        case .retryScheduled(let retry) where retry.kind == .action:
            try add(retry.step, "retries = retries + 1")
        default:
            break
        }
    }

    /// Milliseconds from the last send of `commandId` to `end`: the send time is the in-flight command's
    /// timeout minus the step's timeout (both written by the same decision).
    private static func latency(of commandId: String, in state: SagaState, endingAt end: Date) -> Double? {
        guard let outstanding = state.outstanding, outstanding.commandId == commandId,
            let index = state.index(ofStep: outstanding.step)
        else { return nil }
        let sent = outstanding.timeoutAt.addingTimeInterval(-Double(state.definition.steps[index].effectiveTimeout.milliseconds) / 1000)
        return max(0, end.timeIntervalSince(sent) * 1000)
    }

    /// What `GET /stats` shows.
    struct Row: Codable {
        var sagaType: String
        var step: String
        var succeeded: Int
        /// Definitive refusals of the action (sold out, insufficient funds, …).
        var failed: Int
        /// Sends of the action whose outcome stayed unknown (timeout, 5xx, lost reply).
        var unknownOutcomes: Int
        var retries: Int
        var compensations: Int
        var compensationFailures: Int
        var meanLatencyMs: Double?
        var latencyMsSum: Double
    }

    static func all(_ db: Database) throws -> [Row] {
        try GRDB.Row.fetchAll(db, sql: "SELECT * FROM step_stats ORDER BY saga_type, ordinal").map { row in
            let count: Int = row["latency_count"]
            let sum: Double = row["latency_ms_sum"]
            return Row(
                sagaType: row["saga_type"], step: row["step"], succeeded: row["succeeded"], failed: row["failed"],
                unknownOutcomes: row["unknown_outcomes"], retries: row["retries"],
                compensations: row["compensations"], compensationFailures: row["compensation_failures"],
                meanLatencyMs: count > 0 ? (sum / Double(count) * 10).rounded() / 10 : nil, latencyMsSum: (sum * 10).rounded() / 10)
        }
    }
}
