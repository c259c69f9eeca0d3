import ArgumentParser
import Foundation
import Logging
import SagaHTTP

extension Bench {
    /// `sagaflow bench limits`: this machine's ceilings, measured the way the benchmarks measure our figures.
    struct Limits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine's ceilings: fsyncs/s of the data disk, HTTP requests/s over loopback.",
            discussion: "fsync: write 300 bytes and fsync, in a loop on one thread, in a temporary file on the disk of "
                + "./data. HTTP: our HTTPServer and libcurl HTTPClient on an empty route, at concurrency 1 and 64.")

        @OptionGroup var options: LimitsOptions
        @OptionGroup var directory: BenchDirectoryOptions
        @Flag(help: "Print JSON for scripts instead of text for people.") var json = false

        func run() async throws {
            let (options, directory) = (self.options, self.directory.dir)
            guard let limits = try await untilInterrupted({ try await MachineLimits.measure(options, in: directory) }) else { throw ExitCode(130) }
            print(json ? try Format.json(limits) : limits.text)
        }
    }
}

/// What selects how the ceilings are measured.
struct LimitsOptions: ParsableArguments {
    @Option(help: "How long each ceiling is measured, in seconds.") var seconds = 2.0
}

/// This machine's ceilings.
struct MachineLimits: Codable, Sendable {
    /// Cores this process may use, and the 1-minute load average when measuring began (others' work shows here).
    var cores: Int
    var loadAverage: Double?
    var fsyncsPerSecond: Double
    var fsyncLatency: LatencySummary
    var http: [HTTPCeiling]

    /// Requests per second of the empty route at one concurrency.
    struct HTTPCeiling: Codable, Sendable {
        var concurrency: Int
        var requestsPerSecond: Double
        var errors: Int
        var latency: LatencySummary
    }

    /// The HTTP ceiling at the highest concurrency measured.
    var httpRequestsPerSecond: Double { http.max { $0.concurrency < $1.concurrency }?.requestsPerSecond ?? 0 }

    /// Measures the fsync rate, then the HTTP rate at concurrency 1 and 64.
    static func measure(_ options: LimitsOptions, in directory: String?) async throws -> MachineLimits {
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
        let scratch = try BenchScratch.make(purpose: "limits", in: directory)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fsync = try await fsyncs(path: "\(scratch)/fsync.bin", seconds: options.seconds)
        let http = try await httpCeilings(concurrencies: [1, 64], seconds: options.seconds)
        return MachineLimits(
            cores: ProcessInfo.processInfo.activeProcessorCount, loadAverage: load, fsyncsPerSecond: fsync.rate,
            fsyncLatency: fsync.latency, http: http)
    }

    /// Appends 300 bytes and fsyncs, again and again for `seconds`, on a thread of its own (it blocks).
    private static func fsyncs(path: String, seconds: Double) async throws -> (rate: Double, latency: LatencySummary) {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<(Double, LatencySummary), ValidationError>, Never>) in
            Thread.detachNewThread {
                let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                guard fd >= 0 else {
                    return continuation.resume(returning: .failure(ValidationError("cannot create \(path): \(String(cString: strerror(errno)))")))
                }
                defer { close(fd) }
                let record = [UInt8](repeating: 0x2A, count: 300)
                let recorder = LatencyRecorder()
                let start = ContinuousClock.now
                let end = start + .seconds(seconds)
                while ContinuousClock.now < end {
                    let began = ContinuousClock.now
                    guard record.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == 300, fsync(fd) == 0 else {
                        return continuation.resume(returning: .failure(ValidationError("write+fsync failed: \(String(cString: strerror(errno)))")))
                    }
                    recorder.record(.now - began)
                }
                let latency = recorder.snapshot
                continuation.resume(returning: .success((Double(latency.count) / (ContinuousClock.now - start).inSeconds, latency)))
            }
        }
        return try outcome.get()
    }

    /// Our server and client on an empty route over loopback: a closed loop at each concurrency for `seconds`.
    private static func httpCeilings(concurrencies: [Int], seconds: Double) async throws -> [HTTPCeiling] {
        var logger = Logger(label: "sagaflow.bench.limits")
        logger.logLevel = .warning
        var router = Router()
        router.get("/empty") { _ in HTTPResponse(status: 200) }
        let server = try await HTTPServer.bind(configuration: HTTPServerConfiguration(port: 0), router: router, logger: logger)
        let client = HTTPClient(configuration: HTTPClientConfiguration(maxConnectionsPerHost: concurrencies.max() ?? 1), logger: logger)
        defer { client.shutdown() }
        let url = "http://127.0.0.1:\(server.port)/empty"
        return try await withThrowingTaskGroup(of: Void.self) { serving in
            serving.addTask { try await server.run() }
            var ceilings: [HTTPCeiling] = []
            for concurrency in concurrencies {
                _ = await closedLoop(client, url, concurrency: concurrency, budget: Budget(count: concurrency * 20))  // warm up connections
                let recorder = LatencyRecorder()
                let progress = BenchProgress(label: "requests (concurrency \(concurrency))", total: 0)
                let start = ContinuousClock.now
                let errors = await withTaskGroup(of: Int.self) { display in
                    display.addTask { await progress.run(recorder); return 0 }
                    let budget = Budget(count: .max, deadline: start + .seconds(seconds))
                    let errors = await closedLoop(client, url, concurrency: concurrency, budget: budget, recorder: recorder)
                    display.cancelAll()
                    return errors
                }
                let latency = recorder.snapshot
                ceilings.append(HTTPCeiling(
                    concurrency: concurrency, requestsPerSecond: Double(latency.count) / (ContinuousClock.now - start).inSeconds,
                    errors: errors, latency: latency))
            }
            try await server.shutdown()
            try await serving.waitForAll()
            return ceilings
        }
    }

    /// `concurrency` clients GETting `url` while `budget` lasts; returns how many requests failed.
    private static func closedLoop(
        _ client: HTTPClient, _ url: String, concurrency: Int, budget: Budget, recorder: LatencyRecorder? = nil
    ) async -> Int {
        await withTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var errors = 0
                    while budget.claim() {
                        let began = ContinuousClock.now
                        if (try? await client.get(url, timeout: .seconds(5)))?.status == 200 {
                            recorder?.record(.now - began)
                        } else {
                            errors += 1
                        }
                    }
                    return errors
                }
            }
            return await group.reduce(0, +)
        }
    }

    /// The ceilings for people.
    var text: String {
        var rows = [["fsync, 300 B append, 1 thread", Format.rate(fsyncsPerSecond), fsyncLatency.text]]
        for ceiling in http {
            rows.append([
                "HTTP empty route, concurrency \(ceiling.concurrency)", Format.rate(ceiling.requestsPerSecond),
                ceiling.latency.text + (ceiling.errors > 0 ? "  (\(ceiling.errors) errors)" : ""),
            ])
        }
        let load = loadAverage.map { String(format: ", load average %.2f when measuring began", $0) } ?? ""
        return "This machine's ceilings (\(cores) cores\(load)):\n" + Format.table(rows)
    }
}
