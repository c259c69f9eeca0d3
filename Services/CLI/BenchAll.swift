import ArgumentParser
import Foundation

extension Bench {
    /// `sagaflow bench all`: the ceilings, the event store and the saga load in one run, each figure next to its ceiling.
    struct All: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run limits, store and a saga load (closed loop, then open loop at half its rate); print each figure as a fraction of its ceiling.",
            discussion: "With --start-cluster it needs nothing running; `bench all --start-cluster --sagas 200` is the short form for CI. "
                + "Exits non-zero unless every saga completed.")

        @OptionGroup var load: SagaLoadOptions
        @OptionGroup var api: APIOptions
        @OptionGroup var store: StoreBenchOptions
        @OptionGroup var limits: LimitsOptions
        @OptionGroup var directory: BenchDirectoryOptions

        func run() async throws {
            let (load, store, limits, directory) = (self.load, self.store, self.limits, self.directory.dir)
            let machine = try await untilInterrupted { try await MachineLimits.measure(limits, in: directory) }
            let appends = try await untilInterrupted { try await StoreBenchResult.measure(store, in: directory) }
            guard let machine, let appends else { throw ExitCode(130) }
            let cluster = load.startCluster
                ? try await BenchCluster.start(composeFile: load.run.file)
                : BenchCluster.existing(url: api.url, runDirectory: load.run.runDir)
            let outcome = await Result(catching: {
                try await untilInterrupted { () async throws -> [SagaBenchReport] in
                    let closed = try await SagaBenchReport.measure(load, rate: nil, on: cluster)
                    let halfRate = load.rate ?? max(closed.sagasPerSecond / 2, 1)
                    return [closed, try await SagaBenchReport.measure(load, rate: halfRate, on: cluster)]
                }
            })
            await cluster.stop()
            guard let sagas = try outcome.get() else { throw ExitCode(130) }
            let report = BenchAllReport(limits: machine, store: appends, sagas: sagas)
            if api.json {
                print(try Format.json(report))
            } else {
                print([machine.text, StoreBenchResult.text(appends)].joined(separator: "\n\n"))
                for saga in sagas { print("\n" + saga.text) }
                print("\n" + report.comparisonText)
            }
            if sagas.contains(where: { !$0.ok }) { throw ExitCode(1) }
        }
    }
}

/// Everything `bench all` measured, and each figure as a fraction of its ceiling (`--json`: this object).
struct BenchAllReport: Codable, Sendable {
    var limits: MachineLimits
    var store: [StoreBenchResult]
    var sagas: [SagaBenchReport]
    var comparison: [Comparison]

    /// One of our figures next to the ceiling that bounds it.
    struct Comparison: Codable, Sendable {
        var figure: String
        var value: Double
        var ceilingName: String
        var ceiling: Double
        var ratio: Double
    }

    /// HTTP calls one saga costs: `POST /sagas` and the 4 commands; the 4 domain events travel in the relays'
    /// batches, a fraction of a call each.
    static let httpCallsPerSaga = 5.0

    init(limits: MachineLimits, store: [StoreBenchResult], sagas: [SagaBenchReport]) {
        self.limits = limits
        self.store = store
        self.sagas = sagas
        var rows: [Comparison] = []
        func add(_ figure: String, _ value: Double, _ ceilingName: String, _ ceiling: Double) {
            rows.append(Comparison(figure: figure, value: value, ceilingName: ceilingName, ceiling: ceiling, ratio: ceiling > 0 ? value / ceiling : 0))
        }
        for result in store {
            add("store appends/s, \(result.appenders) appender\(result.appenders == 1 ? "" : "s")", result.appendsPerSecond,
                "fsyncs/s", limits.fsyncsPerSecond)
            add("store commits/s, \(result.appenders) appender\(result.appenders == 1 ? "" : "s")", Double(result.commits) / result.seconds,
                "fsyncs/s", limits.fsyncsPerSecond)
        }
        let sagaCeiling = limits.httpRequestsPerSecond / Self.httpCallsPerSaga
        for saga in sagas {
            let shape = saga.rate == nil ? "closed loop, concurrency \(saga.concurrency)" : "open loop"
            add("sagas/s, \(shape)", saga.sagasPerSecond, "HTTP requests/s ÷ \(Int(Self.httpCallsPerSaga))", sagaCeiling)
        }
        comparison = rows
    }

    /// The comparison table for people.
    var comparisonText: String {
        var rows = [["our figure", "", "ceiling", "", "ratio"]]
        rows += comparison.map { [$0.figure, Format.rate($0.value), $0.ceilingName, Format.rate($0.ceiling), Format.ratio($0.ratio)] }
        return "Our figures against this machine's ceilings (measured in this run):\n" + Format.table(rows)
    }
}
