import ArgumentParser
import EventStore
import Foundation
import Logging
import Synchronization

extension Bench {
    /// `sagaflow bench store`: durable appends/s and append latency of the SQLite event store alone.
    struct Store: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure durable appends/s and append latency of the event store for 1, 16 and 256 appenders.",
            discussion: "Each appender appends ~300-byte events one at a time to its own stream, expecting its exact "
                + "version, to a fresh SQLite file (WAL, synchronous=FULL) in a temporary directory.")

        @OptionGroup var options: StoreBenchOptions
        @OptionGroup var directory: BenchDirectoryOptions
        @Flag(help: "Print JSON for scripts instead of text for people.") var json = false

        func run() async throws {
            let (options, directory) = (self.options, self.directory.dir)
            guard let results = try await untilInterrupted({ try await StoreBenchResult.measure(options, in: directory) }) else { throw ExitCode(130) }
            print(json ? try Format.json(results) : StoreBenchResult.text(results))
        }
    }
}

/// What selects the event store benchmark's load.
struct StoreBenchOptions: ParsableArguments {
    @Option(help: "Events to append at each level (it also stops after --max-seconds).") var events = 50_000
    @Option(help: "The longest each level runs, in seconds.") var maxSeconds = 5.0
    @Option(parsing: .upToNextOption, help: "Concurrent appenders, one level each.") var appenders = [1, 16, 256]

    func validate() throws {
        guard events > 0, maxSeconds > 0 else { throw ValidationError("--events and --max-seconds must be above 0") }
        guard !appenders.isEmpty, appenders.allSatisfy({ $0 > 0 }) else { throw ValidationError("--appenders must be at least 1") }
    }
}

/// Durable appends at one level of concurrency.
struct StoreBenchResult: Codable, Sendable {
    var appenders: Int
    var appends: Int
    var seconds: Double
    var appendsPerSecond: Double
    /// Write transactions (each one fsync of the WAL) the store committed for these appends.
    var commits: Int
    var appendsPerCommit: Double
    var latency: LatencySummary

    /// One level after another, each on a fresh store file.
    static func measure(_ options: StoreBenchOptions, in directory: String?) async throws -> [StoreBenchResult] {
        let scratch = try BenchScratch.make(purpose: "store", in: directory)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var results: [StoreBenchResult] = []
        for appenders in options.appenders {
            results.append(try await measure(appenders: appenders, options: options, path: "\(scratch)/events-\(appenders).sqlite"))
        }
        return results
    }

    private static func measure(appenders: Int, options: StoreBenchOptions, path: String) async throws -> StoreBenchResult {
        var logger = Logger(label: "sagaflow.bench.store")
        logger.logLevel = .warning
        let store = try SQLiteEventStore(path: path, logger: logger)
        _ = try await store.append(to: "warm-up", expected: .noStream, events: [event(0)])
        let recorder = LatencyRecorder()
        let budget = Budget(count: options.events, deadline: .now + .seconds(options.maxSeconds))
        let progress = BenchProgress(label: "appends, \(appenders) appender\(appenders == 1 ? "" : "s")", total: options.events)
        let commitsBefore = store.commitCount
        let start = ContinuousClock.now
        var end = start
        var failure: (any Error)?
        await withTaskGroup(of: Void.self) { display in
            display.addTask { await progress.run(recorder) }
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    for appender in 0..<appenders {
                        group.addTask {
                            let event = event(appender)
                            var version: Int64?
                            while budget.claim() {
                                let began = ContinuousClock.now
                                _ = try await store.append(
                                    to: "bench-\(appender)", expected: ExpectedVersion(streamVersion: version), events: [event])
                                recorder.record(.now - began)
                                version = (version ?? -1) + 1
                            }
                        }
                    }
                }
            } catch {
                failure = error
            }
            end = .now
            display.cancelAll()
        }
        let commits = store.commitCount - commitsBefore
        try await store.close()
        if let failure { throw failure }
        let latency = recorder.snapshot
        let seconds = (end - start).inSeconds
        return StoreBenchResult(
            appenders: appenders, appends: latency.count, seconds: seconds, appendsPerSecond: Double(latency.count) / seconds,
            commits: commits, appendsPerCommit: Double(latency.count) / Double(max(commits, 1)), latency: latency)
    }

    /// A ~300-byte JSON event, like a `StepSucceeded` with a small output.
    private static func event(_ appender: Int) -> NewEvent {
        let prefix = #"{"sagaId":"s-bench-\#(appender)","step":"reserve-seats","attempt":1,"output":{"reservationId":"r-"#
        let suffix = #""}}"#
        let padding = String(repeating: "x", count: max(0, 300 - prefix.utf8.count - suffix.utf8.count))
        return NewEvent(
            type: "StepSucceeded", data: Data((prefix + padding + suffix).utf8),
            metadata: EventMetadata(causationId: "c-bench", correlationId: "s-bench-\(appender)"))
    }

    /// The results for people.
    static func text(_ results: [StoreBenchResult]) -> String {
        var rows = [["appenders", "appends/s", "appends", "per commit", "latency"]]
        for result in results {
            rows.append([
                "\(result.appenders)", Format.rate(result.appendsPerSecond),
                "\(Format.count(Double(result.appends))) in \(String(format: "%.1f", result.seconds)) s",
                String(format: "%.1f", result.appendsPerCommit), result.latency.text,
            ])
        }
        return "Event store (SQLite, WAL, synchronous=FULL), one ~300-byte event per append:\n" + Format.table(rows)
    }
}
