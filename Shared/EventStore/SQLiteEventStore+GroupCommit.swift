import Foundation
import GRDB
import Logging
import SagaProtocol
import Synchronization

/// An append waiting to be committed.
struct PendingAppend: Sendable {
    var stream: String
    var expected: ExpectedVersion
    var events: [NewEvent]
    /// Each event's metadata as stored, encoded by the appender's task rather than by the one writer.
    var encodedMetadata: [String]

    init(stream: String, expected: ExpectedVersion, events: [NewEvent]) {
        self.stream = stream
        self.expected = expected
        self.events = events
        encodedMetadata = events.map { EventMetadataColumn.encode($0.metadata) }
    }
}

/// The appends waiting for a commit, and whether one is being committed now.
///
/// Group commit, leader/follower style: the first appender to find no commit running becomes the leader; it
/// commits every waiting append in one transaction, resumes their callers with their results, then hands the
/// lead to the first append that arrived meanwhile. So there is never more than one writer, nobody polls,
/// and no task outlives its caller.
struct AppendQueue: ~Copyable {
    enum Turn {
        /// Commit the waiting appends, this one first.
        case lead
        /// The leader committed (or rejected) this append.
        case done(Result<AppendResult, EventStoreError>)
    }

    var waiting: [(append: PendingAppend, continuation: CheckedContinuation<Turn, Never>)] = []
    /// A leader is committing; when false, `waiting` is empty.
    var committing = false
    var closed = false
    /// `close()` callers waiting for the last commit to end.
    var drained: [CheckedContinuation<Void, Never>] = []
}

extension SQLiteEventStore {
    /// Most appends one transaction holds; the rest wait for the next.
    static let maxBatch = 512

    public func append(to stream: String, expected: ExpectedVersion, events: [NewEvent]) async throws
        -> AppendResult
    {
        let append = PendingAppend(stream: stream, expected: expected, events: events)
        // Once queued, an append is not cancellable: it completes in the next commit either way.
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<AppendQueue.Turn, Never>) in
            let now = appendQueue.withLock { queue -> AppendQueue.Turn? in
                if queue.closed { return .done(.failure(.storeClosed)) }
                queue.waiting.append((append, continuation))
                if queue.committing { return nil }
                queue.committing = true
                return .lead
            }
            if let now { continuation.resume(returning: now) }
        }
        switch turn {
        case .done(let result): return try result.get()
        case .lead: return try await lead().get()
        }
    }

    private enum Handover {
        case lead(CheckedContinuation<AppendQueue.Turn, Never>)
        case idle([CheckedContinuation<Void, Never>])
    }

    /// Commits the waiting appends (the leader's own first), resumes their callers, hands over the lead,
    /// and returns the leader's own result.
    private func lead() async -> Result<AppendResult, EventStoreError> {
        let batch = appendQueue.withLock { queue in
            let batch = queue.waiting.prefix(Self.maxBatch)
            queue.waiting.removeFirst(batch.count)
            return Array(batch)
        }
        let results = await commit(batch.map(\.append))
        for (entry, result) in zip(batch, results).dropFirst() {
            entry.continuation.resume(returning: .done(result))
        }
        // The next leader is the first append that arrived during this commit; it stays queued and takes
        // the batch itself. With nobody waiting, the store is idle and `close()` may proceed.
        let next = appendQueue.withLock { queue -> Handover in
            if let first = queue.waiting.first { return .lead(first.continuation) }
            queue.committing = false
            defer { queue.drained = [] }
            return .idle(queue.drained)
        }
        switch next {
        case .lead(let continuation): continuation.resume(returning: .lead)
        case .idle(let drained): for continuation in drained { continuation.resume() }
        }
        return results[0]
    }

    /// Stops accepting appends and waits until the accepted ones are committed.
    func closeAppends() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = appendQueue.withLock { queue in
                queue.closed = true
                if !queue.committing { return true }
                queue.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Writes `batch` in one transaction with a savepoint per append; returns each append's result, in order.
    /// Not cancellable: the callers of the other appends depend on it.
    func commit(_ batch: [PendingAppend]) async -> [Result<AppendResult, EventStoreError>] {
        let recordedAt = now()
        let outcome = await withCheckedContinuation { continuation in
            pool.asyncWriteWithoutTransaction { db in
                continuation.resume(returning: Result { try Self.write(batch, recordedAt: recordedAt, db) })
            }
        }
        switch outcome {
        case .success(let results):
            commits.add(1, ordering: .relaxed)
            let head = results.compactMap { try? $0.get().lastPosition }.max()
            if let head { waiters.advance(to: head) }
            let failures = results.count { if case .failure = $0 { true } else { false } }
            logger.trace(
                "events committed",
                metadata: ["store.batch.appends": "\(batch.count)", "store.batch.failures": "\(failures)"])
            return results
        case .failure(let error):
            logger.error(
                "event commit failed", metadata: ["store.batch.appends": "\(batch.count)", "error": "\(error)"])
            return Array(repeating: .failure(.io(error)), count: batch.count)
        }
    }

    private static func write(_ batch: [PendingAppend], recordedAt: Date, _ db: Database) throws
        -> [Result<AppendResult, EventStoreError>]
    {
        var results: [Result<AppendResult, EventStoreError>] = []
        try db.inTransaction(.immediate) {
            for append in batch {
                do {
                    // A savepoint undoes a multi-event append that fails halfway; one event is written whole or not at all.
                    if append.events.count > 1 {
                        var result: AppendResult?
                        try db.inSavepoint {
                            result = try insert(append, recordedAt: recordedAt, db)
                            return .commit
                        }
                        results.append(.success(result!))
                    } else {
                        results.append(.success(try insert(append, recordedAt: recordedAt, db)))
                    }
                } catch let error as EventStoreError {
                    results.append(.failure(error))
                } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                    results.append(
                        .failure(.wrongExpectedVersion(stream: append.stream, expected: append.expected, actual: nil)))
                } catch {
                    results.append(.failure(.io(error)))
                }
            }
            return .commit
        }
        return results
    }

    /// Checks `append`'s expected version and inserts its events.
    private static func insert(_ append: PendingAppend, recordedAt: Date, _ db: Database) throws -> AppendResult {
        let current = try fetchVersion(of: append.stream, db)
        guard append.expected.isSatisfied(by: current) else {
            throw EventStoreError.wrongExpectedVersion(
                stream: append.stream, expected: append.expected, actual: current)
        }
        var version = current ?? -1
        guard !append.events.isEmpty else {
            return AppendResult(nextExpectedVersion: version, lastPosition: try fetchHead(db))
        }
        let statement = try db.cachedStatement(
            sql: "INSERT INTO events (stream, version, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?)")
        for (event, metadata) in zip(append.events, append.encodedMetadata) {
            version += 1
            try statement.execute(arguments: [
                append.stream, version, event.type, event.data, metadata, recordedAt.timeIntervalSince1970,
            ])
        }
        return AppendResult(nextExpectedVersion: version, lastPosition: db.lastInsertedRowID)
    }
}
