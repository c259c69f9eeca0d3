import GRDB
import Synchronization

/// Runs write transactions that arrive together as one transaction, so they share one commit and one fsync.
///
/// Each body runs in its own savepoint, after the bodies that arrived before it: a body that throws rolls back
/// only its own changes and fails only its own caller, exactly as if it had had a transaction of its own.
/// A caller returns once the shared transaction is committed (with `synchronous=FULL`, on disk).
final class GroupCommitWriter: Sendable {
    let database: DatabasePool
    private let queue = Mutex<(waiting: [Pending], scheduled: Bool)>(([], false))

    init(database: DatabasePool) {
        self.database = database
    }

    /// One queued body and its caller.
    private struct Pending: Sendable {
        /// Runs the body in a savepoint; returns how to resume the caller once the transaction has ended.
        var run: @Sendable (Database) -> @Sendable ((any Error)?) -> Void
        /// Resumes the caller with `error` when the transaction failed before the body ran.
        var fail: @Sendable (any Error) -> Void
    }

    /// Runs `body` in the next group transaction and returns its result once that transaction is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Pending(
                run: { db in
                    let result = Result { () throws -> T in
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        return value!
                    }
                    return { transactionError in
                        if let transactionError { continuation.resume(throwing: transactionError) } else { continuation.resume(with: result) }
                    }
                },
                fail: { continuation.resume(throwing: $0) })
            let schedule = queue.withLock { queue in
                queue.waiting.append(pending)
                defer { queue.scheduled = true }
                return !queue.scheduled
            }
            // GRDB runs writes one at a time: what arrives while this flush waits or runs goes into the next one.
            if schedule { database.asyncWriteWithoutTransaction { db in self.flush(db) } }
        }
    }

    private func flush(_ db: Database) {
        let batch = queue.withLock { queue in
            defer { queue = ([], false) }
            return queue.waiting
        }
        var finishes: [@Sendable ((any Error)?) -> Void] = []
        do {
            try db.inTransaction(.immediate) {
                finishes = batch.map { $0.run(db) }
                return .commit
            }
            for finish in finishes { finish(nil) }
        } catch {
            for finish in finishes { finish(error) }
            for pending in batch.dropFirst(finishes.count) { pending.fail(error) }
        }
    }
}
