import Foundation
import SagaHTTP
import SagaProtocol
import Synchronization

/// How the load generator starts sagas.
enum LoadShape: Sendable, CustomStringConvertible {
    /// Closed loop: `concurrency` clients, each starting the next saga as soon as its last one ended.
    case closed(concurrency: Int)
    /// Open loop: saga `i` is due at `i / rate` seconds whatever the system does, and its latency counts from
    /// then, so a stall shows in the latencies instead of slowing the load (no coordinated omission).
    case open(rate: Double)

    var description: String {
        switch self {
        case .closed(let concurrency): "closed loop, concurrency \(concurrency)"
        case .open(let rate): "open loop, \(Format.rate(rate))"
        }
    }
}

/// How the sagas of a run ended.
struct OutcomeCounts: Codable, Sendable, Equatable {
    var completed = 0
    var compensated = 0
    var failed = 0
    /// Requests that failed, answered other than 2xx, or returned before the saga ended.
    var errors = 0

    var total: Int { completed + compensated + failed + errors }
    /// The sagas that reached an end; errors (no answer, refused) are not sagas done.
    var ended: Int { completed + compensated + failed }
}

/// What one load run measured.
struct LoadResult: Sendable {
    var shape: LoadShape
    var seconds: Double
    var latency: LatencySummary
    var outcomes: OutcomeCounts
    /// The first few distinct error messages, for the report.
    var errorSamples: [String]

    /// Sagas that ended (any outcome) per second of the run.
    /// Sagas that ended per second: requests that failed do not count, so a run against nothing is not fast.
    var sagasPerSecond: Double { seconds > 0 ? Double(outcomes.ended) / seconds : 0 }
}

/// Starts `count` sagas with `POST /sagas` and `Prefer: wait=30`, in the given shape, and times each until the
/// response carrying its final state.
struct SagaLoad: Sendable {
    var url: String
    var type: String
    var input: JSONValue
    var count: Int
    var shape: LoadShape
    /// Connections the client may open to the orchestrator.
    var connections: Int

    /// Runs the load, with a progress display on stderr; returns early when the task is cancelled.
    func run() async throws -> LoadResult {
        let client = HTTPClient(configuration: HTTPClientConfiguration(maxConnectionsPerHost: connections))
        defer { client.shutdown() }
        let body: JSONValue = ["type": .string(type), "input": input]
        let request = HTTPClientRequest(
            method: "POST", url: "\(url)/sagas",
            headers: [("Content-Type", "application/json"), ("Prefer", "wait=30")], body: Array(try JSONCoding.encode(body)))
        let recorder = LatencyRecorder()
        let outcomes = OutcomeRecorder()
        let progress = BenchProgress(label: "sagas", total: count)
        let start = ContinuousClock.now
        var end = start
        await withTaskGroup(of: Void.self) { display in
            display.addTask { await progress.run(recorder) }
            let startOne = { @Sendable (due: ContinuousClock.Instant) async in
                let outcome = await Self.start(request, client: client)
                recorder.record(ContinuousClock.now - due)
                outcomes.add(outcome)
            }
            switch shape {
            case .closed(let concurrency):
                let budget = Budget(count: count)
                await withDiscardingTaskGroup { clients in
                    for _ in 0..<concurrency {
                        clients.addTask {
                            while budget.claim() {
                                await startOne(.now)
                            }
                        }
                    }
                }
            case .open(let rate):
                await withDiscardingTaskGroup { arrivals in
                    for index in 0..<count where !Task.isCancelled {
                        let due = start + .seconds(Double(index) / rate)
                        if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
                        arrivals.addTask { await startOne(due) }
                    }
                }
            }
            end = .now
            display.cancelAll()
        }
        let (counts, samples) = outcomes.result
        return LoadResult(shape: shape, seconds: (end - start).inSeconds, latency: recorder.snapshot, outcomes: counts, errorSamples: samples)
    }

    /// How one saga ended.
    enum Outcome: Sendable {
        case ended(SagaStatus)
        case error(String)
    }

    /// The saga's status as the response to `POST /sagas` states it.
    private struct Answer: Decodable {
        var status: SagaStatus
    }

    private static func start(_ request: HTTPClientRequest, client: HTTPClient) async -> Outcome {
        do {
            let response = try await client.execute(request, timeout: .seconds(35))
            guard (200..<300).contains(response.status) else {
                let detail = String(decoding: response.body.prefix(200), as: UTF8.self)
                return .error("HTTP \(response.status): \(detail)")
            }
            let status = try JSONCoding.decode(Answer.self, from: response.body).status
            return status.isTerminal ? .ended(status) : .error("saga still \(status.rawValue) when the wait ended")
        } catch {
            return .error("\(error)")
        }
    }
}

/// Hands out at most `count` units of work to concurrent workers, until `deadline` when there is one.
final class Budget: Sendable {
    private let claimed = Atomic<Int>(0)
    private let count: Int
    private let deadline: ContinuousClock.Instant?

    init(count: Int, deadline: ContinuousClock.Instant? = nil) {
        self.count = count
        self.deadline = deadline
    }

    /// Whether the caller may do one more unit.
    func claim() -> Bool {
        !Task.isCancelled && deadline.map { ContinuousClock.now < $0 } ?? true
            && claimed.add(1, ordering: .relaxed).oldValue < count
    }
}

/// Counts outcomes from many tasks and keeps a few error messages.
final class OutcomeRecorder: Sendable {
    private let state = Mutex((counts: OutcomeCounts(), samples: [String]()))

    /// Counts one saga's outcome.
    func add(_ outcome: SagaLoad.Outcome) {
        state.withLock { state in
            switch outcome {
            case .ended(.completed): state.counts.completed += 1
            case .ended(.compensated): state.counts.compensated += 1
            case .ended: state.counts.failed += 1
            case .error(let message):
                state.counts.errors += 1
                if state.samples.count < 5, !state.samples.contains(message) { state.samples.append(message) }
            }
        }
    }

    /// The counts and the first distinct error messages.
    var result: (OutcomeCounts, [String]) { state.withLock { ($0.counts, $0.samples) } }
}
