import ArgumentParser
import Foundation
import SagaProtocol

extension Bench {
    /// `sagaflow bench run`: sagas/s, latency, outcomes and peak memory of a saga load.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start N sagas (closed loop at --concurrency, or open loop at --rate) and report sagas/s and latency.",
            discussion: "Against the cluster at --url, or one started for the run with --start-cluster. "
                + "Exits non-zero unless every saga completed.")

        @OptionGroup var load: SagaLoadOptions
        @OptionGroup var api: APIOptions

        func run() async throws {
            let cluster = load.startCluster
                ? try await BenchCluster.start(composeFile: load.run.file)
                : BenchCluster.existing(url: api.url, runDirectory: load.run.runDir)
            let load = self.load
            let outcome = await Result(catching: { try await untilInterrupted { try await SagaBenchReport.measure(load, rate: load.rate, on: cluster) } })
            await cluster.stop()
            guard let report = try outcome.get() else { throw ExitCode(130) }
            print(api.json ? try Format.json(report) : report.text)
            if !report.ok { throw ExitCode(1) }
        }
    }
}

/// What a saga benchmark measured, as `bench run` prints it (`--json`: this object).
struct SagaBenchReport: Codable, Sendable {
    var type: String
    var url: String
    /// `closed` or `open`.
    var mode: String
    var concurrency: Int
    var rate: Double?
    var sagas: Int
    var seconds: Double
    var sagasPerSecond: Double
    var latency: LatencySummary
    var outcomes: OutcomeCounts
    /// What every saga must end as for the run to pass.
    var expected: String
    var ok: Bool
    var errorSamples: [String]
    /// Peak resident memory (VmHWM) of each process, KiB; `bench` is the load generator.
    var peakMemoryKiB: [String: Int]
    /// CPU milliseconds (user + system) each process spent per saga during the run; their sum bounds sagas/s at
    /// (cores × 1000) / sum.
    var cpuMsPerSaga: [String: Double]
    /// Launch to healthy, when the run started the cluster.
    var clusterStartSeconds: Double?

    /// Checks there is stock for `options.sagas` sagas, runs the load against `cluster` (open loop at `rate` when
    /// given, else closed loop) and reads peak memory.
    static func measure(_ options: SagaLoadOptions, rate: Double?, on cluster: BenchCluster) async throws -> SagaBenchReport {
        let input = SagaLoadOptions.input
        let capacity = await cluster.capacity(for: input)
        guard options.sagas <= capacity.count else {
            throw ValidationError(
                "\(options.sagas) sagas would not all complete: there is room for \(Format.count(Double(capacity.count))) (\(capacity.source)). "
                    + "Use fewer sagas, or --start-cluster for fresh data.")
        }
                let shape: LoadShape = rate.map { .open(rate: $0) } ?? .closed(concurrency: options.concurrency)
        let load = SagaLoad(
            url: cluster.url, type: options.type, input: input, count: options.sagas, shape: shape, connections: options.concurrency)
        let cpuBefore = CPUTime.snapshot(cluster.pids())
        let result = try await load.run()
        try Task.checkCancellation()
        let cpuAfter = CPUTime.snapshot(cluster.pids())
        let cpuPerSaga = cpuAfter.compactMapValues { $0 }.reduce(into: [String: Double]()) { result, entry in
            guard let before = cpuBefore[entry.key] else { return }
            result[entry.key] = (entry.value - before) * 1000 / Double(max(options.sagas, 1))
        }
        return SagaBenchReport(
            type: options.type, url: cluster.url, mode: rate == nil ? "closed" : "open", concurrency: options.concurrency, rate: rate,
            sagas: options.sagas, seconds: result.seconds, sagasPerSecond: result.sagasPerSecond, latency: result.latency,
            outcomes: result.outcomes, expected: "completed", ok: result.outcomes.completed == options.sagas,
            errorSamples: result.errorSamples, peakMemoryKiB: PeakMemory.report(cluster.pids()), cpuMsPerSaga: cpuPerSaga,
            clusterStartSeconds: cluster.startupSeconds)
    }

    /// The report for people.
    var text: String {
        let shape = rate.map { "open loop at \(Format.rate($0)) (at most \(concurrency) connections)" }
            ?? "closed loop, concurrency \(concurrency)"
        let started = clusterStartSeconds.map { String(format: " (started for this run, healthy in %.2f s)", $0) } ?? ""
        let memory = peakMemoryKiB.sorted { $0.key < $1.key }.map { "\($0.key) \(Format.memory(kilobytes: $0.value))" }
        var rows = [
            ["sagas/s", "\(Format.count(sagasPerSecond))  (\(Format.count(Double(outcomes.ended))) ended in \(String(format: "%.2f", seconds)) s)"],
            ["latency", latency.text + (rate == nil ? "" : ", from each saga's scheduled start")],
            ["outcomes", "completed \(outcomes.completed)  compensated \(outcomes.compensated)  failed \(outcomes.failed)  errors \(outcomes.errors)"],
            ["peak memory", memory.isEmpty ? "unknown (no pids: start with --start-cluster, or from this directory's run/)" : memory.joined(separator: "  ")],
        ]
        if !cpuMsPerSaga.isEmpty {
            let total = cpuMsPerSaga.values.reduce(0, +)
            let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
            let parts = cpuMsPerSaga.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2f", $0.value))" }
            rows.append(["CPU per saga", String(format: "%.1f ms", total) + " (" + parts.joined(separator: "  ") + ")"])
            rows.append(["CPU ceiling", "\(Format.count(cores * 1000 / max(total, 0.001)))/s on \(Int(cores)) cores at that cost"])
        }
        rows += errorSamples.map { ["error", $0] }
        let verdict = ok
            ? "OK: all \(sagas) sagas \(expected)."
            : "FAILED: \(sagas - outcomes.completed) of \(sagas) sagas did not end \(expected)."
        let hint = outcomes.completed == 0 && outcomes.errors > 0 && clusterStartSeconds == nil
            ? ["Is a cluster running at \(url)? Start one with `sagaflow up -d`, or pass --start-cluster."] : []
        return (["\(sagas) \(type) sagas, \(shape), against \(url)\(started)", Format.table(rows), verdict] + hint)
            .joined(separator: "\n")
    }
}

extension Result where Failure == any Error {
    /// The result of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
