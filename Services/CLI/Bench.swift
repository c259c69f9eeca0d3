import ArgumentParser
import SagaProtocol

/// `sagaflow bench`: load tests of the whole saga path, of the event store alone, and of this machine's ceilings.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure sagas/s and latency, the event store alone, and this machine's ceilings.",
        discussion: """
            Every figure is measured on this machine in this run; `bench all` prints each next to its ceiling.
            Examples:
              sagaflow bench --start-cluster --sagas 2000 --concurrency 64
              sagaflow bench --start-cluster --sagas 2000 --rate 400
              sagaflow bench store
              sagaflow bench limits
              sagaflow bench all --start-cluster --sagas 200      (the short form for CI)
            A saga run exits non-zero unless every saga ended as expected (`completed`).
            """,
        subcommands: [Run.self, Store.self, Limits.self, All.self],
        defaultSubcommand: Run.self)
}

/// What selects the sagas a saga benchmark starts and where.
struct SagaLoadOptions: ParsableArguments {
    @Option(help: "How many sagas to start.") var sagas = 1000
    @Option(help: "Clients in a closed loop; with --rate, the cap on connections to the orchestrator.")
    var concurrency = 64
    @Option(help: "Start sagas at this fixed rate per second (open loop) instead of a closed loop.")
    var rate: Double?
    @Option(help: "The saga type.") var type = "place-order"
    @Flag(help: "Start a cluster from --file on free ports with fresh data in a temporary directory, stop it after.")
    var startCluster = false
    @OptionGroup var run: RunOptions

    /// The input every saga gets: one seat and one cent, so the demo data allows 100,000 sagas.
    static let input: JSONValue = ["customerId": "alice", "eventId": "concert", "seats": 1, "amount": 1]

    func validate() throws {
        guard sagas > 0 else { throw ValidationError("--sagas must be at least 1") }
        guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be above 0") }
    }
}

/// Where the store and fsync benchmarks create their temporary files.
struct BenchDirectoryOptions: ParsableArguments {
    @Option(help: "A directory to create the temporary files in (default: a temporary directory on the disk of ./data).")
    var dir: String?
}

/// Runs `body`, cancelling it on SIGINT or SIGTERM; nil when it was interrupted.
func untilInterrupted<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            await waitForTerminationSignal()
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
