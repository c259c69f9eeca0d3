import Foundation
import GRDB
import Logging
import SagaHTTP
import SagaProtocol
public import ServiceLifecycle

/// Delivers outbox rows at least once, in order per saga, with capped exponential backoff, across restarts.
/// A receiver's 4xx (other than 409/429) means the row can never be accepted: it is parked and logged, not retried.
public final class OutboxRelay: Service, Sendable {
    let database: DatabasePool
    let client: HTTPClient
    let logger: Logger
    let wakeup = Wakeup()
    let baseBackoff: Duration
    let maxBackoff: Duration

    init(
        database: DatabasePool, client: HTTPClient, logger: Logger, baseBackoff: Duration = .milliseconds(50),
        maxBackoff: Duration = .seconds(5)
    ) {
        self.database = database
        self.client = client
        self.logger = logger
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
    }

    struct Row: Sendable {
        var id: Int64
        var kind: Outbox.Kind
        var destination: String
        var orderingKey: String
        var body: Data
        var attempts: Int
    }

    /// Delivers until cancelled or asked to shut down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let delivered = (try? await self.deliverDueRows()) ?? 0
                if delivered == 0 { await self.wakeup.wait(timeout: .milliseconds(250)) }
            }
        }
    }

    /// Asks the relay to look at the outbox now.
    func notify() { wakeup.notify() }

    /// One pass: every due row, sagas in parallel, each saga's rows in order; a failure holds that saga's later rows.
    /// The domain events at the head of each saga's rows go first, all of them in one request per destination
    /// (`POST /events` takes an array); the rest one request each. Returns how many rows were delivered.
    func deliverDueRows() async throws -> Int {
        let now = Date().timeIntervalSince1970
        let rows = try await database.read { db in
            try GRDB.Row.fetchAll(
                db,
                sql: """
                    SELECT id, kind, destination, ordering_key, body, attempts, next_attempt_at FROM outbox
                    WHERE parked = 0 ORDER BY id LIMIT 512
                    """
            ).map { row in
                (Row(id: row["id"], kind: Outbox.Kind(rawValue: row["kind"]) ?? .reply, destination: row["destination"],
                    orderingKey: row["ordering_key"], body: row["body"], attempts: row["attempts"]),
                    due: (row["next_attempt_at"] as Double) <= now)
            }
        }
        var bySaga: [String: [Row]] = [:]
        var blocked: Set<String> = []
        for (row, due) in rows {
            if !due { blocked.insert(row.orderingKey) }
            if !blocked.contains(row.orderingKey) { bySaga[row.orderingKey, default: []].append(row) }
        }
        let leadingEvents = bySaga.mapValues { $0.prefix { $0.kind == .event } }
        let batches = Dictionary(grouping: leadingEvents.values.joined(), by: \.destination)
        let batched = await withTaskGroup(of: [Int64].self) { group in
            for batch in batches.values {
                group.addTask { await self.deliverBatch(batch.sorted { $0.id < $1.id }) }
            }
            return await group.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        }
        let delivered = await withTaskGroup(of: [Int64].self) { group in
            for (saga, rows) in bySaga {
                let events = leadingEvents[saga] ?? []
                // A saga whose events did not all go through waits for the next pass.
                guard events.allSatisfy({ batched.contains($0.id) }) else { continue }
                group.addTask { await self.deliverInOrder(Array(rows.dropFirst(events.count))) }
            }
            return await group.reduce(into: Array(batched)) { $0 += $1 }
        }
        // One transaction (one fsync) for the pass. Rows whose deletion is lost in a crash are delivered again,
        // which receivers tolerate (at least once); the next pass starts only after this commit.
        if !delivered.isEmpty {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM outbox WHERE id IN (\(databaseQuestionMarks(count: delivered.count)))", arguments: StatementArguments(delivered))
            }
        }
        return delivered.count
    }

    /// Delivers domain events bound for one destination as one JSON array; returns the ids delivered. When the
    /// receiver refuses the batch as a bad request, each row goes alone, so that only a bad one is parked.
    private func deliverBatch(_ rows: [Row]) async -> [Int64] {
        guard rows.count > 1, let first = rows.first else { return await deliverInOrder(rows) }
        var body = Data("[".utf8)
        for (index, row) in rows.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(row.body)
        }
        body.append(UInt8(ascii: "]"))
        switch await send(body, to: first.destination) {
        case .delivered: return rows.map(\.id)
        case .refused:
            var delivered: [Int64] = []
            for saga in Dictionary(grouping: rows, by: \.orderingKey).values { delivered += await deliverInOrder(saga) }
            return delivered
        case .failed(let failure):
            for row in rows { await recordFailure(row, failure, park: false) }
            return []
        }
    }

    /// Delivers `rows` in order until one fails; returns the ids delivered.
    private func deliverInOrder(_ rows: [Row]) async -> [Int64] {
        var delivered: [Int64] = []
        for row in rows {
            guard await deliver(row) else { break }
            delivered.append(row.id)
        }
        return delivered
    }

    private func deliver(_ row: Row) async -> Bool {
        switch await send(row.body, to: row.destination) {
        case .delivered: return true
        case .refused(let failure): await recordFailure(row, failure, park: true)
        case .failed(let failure): await recordFailure(row, failure, park: false)
        }
        return false
    }

    private enum SendResult {
        case delivered
        /// A 4xx other than 409/429: sending the same body again cannot succeed.
        case refused(String)
        /// Anything else: try again later.
        case failed(String)
    }

    private func send(_ body: Data, to destination: String) async -> SendResult {
        do {
            let response = try await client.execute(
                HTTPClientRequest(method: "POST", url: destination, headers: [("Content-Type", "application/json")], body: Array(body)),
                timeout: .seconds(5))
            if (200..<300).contains(response.status) { return .delivered }
            let failure = "HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
            let refused = (400..<500).contains(response.status) && response.status != 409 && response.status != 429
            return refused ? .refused(failure) : .failed(failure)
        } catch {
            return .failed("\(error)")
        }
    }

    /// Counts a failed attempt of `row`: parks it, or schedules the next attempt after a backoff.
    private func recordFailure(_ row: Row, _ failure: String, park: Bool) async {
        let attempts = row.attempts + 1
        let delay = Self.backoff(attempt: attempts, base: baseBackoff, cap: maxBackoff)
        let next = Date().timeIntervalSince1970 + Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        logger.log(
            level: park || attempts % 10 == 0 ? .error : .warning,
            park ? "outbox row refused by receiver, parked" : "outbox delivery failed, will retry",
            metadata: [
                "outbox.id": "\(row.id)", "outbox.destination": "\(row.destination)", "outbox.attempts": "\(attempts)",
                "error": "\(failure)",
            ])
        _ = try? await database.write { db in
            try db.execute(
                sql: "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, parked = ? WHERE id = ?",
                arguments: [attempts, next, failure, park, row.id])
        }
    }

    /// Capped exponential backoff with full jitter over the upper half: base·2^(attempt-1), at most `cap`.
    static func backoff(attempt: Int, base: Duration, cap: Duration) -> Duration {
        let exponential = base * (1 << min(attempt - 1, 20))
        let capped = min(exponential, cap)
        return capped / 2 + capped / 2 * Double.random(in: 0...1)
    }
}
