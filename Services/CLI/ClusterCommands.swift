import ArgumentParser
import Compose
import Dispatch
import Foundation
import Logging
import SagaHTTP

/// Where a cluster run keeps its files.
struct RunOptions: ParsableArguments {
    @Option(help: "The compose file.") var file = "compose/sagaflow.yml"
    @Option(help: "Logs, pid files and the cluster state of this run.") var runDir = "run"
}

/// The directory holding this `sagaflow` executable, where `swift build` also put the services.
func defaultBinDirectory() -> String {
    let invoked = CommandLine.arguments[0]
    let executable = invoked.contains("/") ? invoked : (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? invoked
    return URL(fileURLWithPath: executable).deletingLastPathComponent().path
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the cluster from the compose file and supervise it.")

    @OptionGroup var run: RunOptions
    @Flag(name: [.customShort("d"), .customLong("detach")], help: "Run in the background; `sagaflow down` stops it.")
    var detach = false
    @Option(help: "Where the service executables are (default: next to sagaflow).") var binDir: String?
    @Option(help: "Root of the services' data directories.") var dataDir = "data"

    func run() async throws {
        let file: ComposeFile
        do {
            file = try ComposeFile.load(path: run.file)
        } catch {
            throw ValidationError("\(error)")
        }
        if detach { return try await startDetached() }
        let colours = ["\u{1B}[36m", "\u{1B}[33m", "\u{1B}[35m", "\u{1B}[32m", "\u{1B}[34m"]
        let names = file.services.map(\.name)
        let width = names.map(\.count).max() ?? 0
        let tty = isatty(STDOUT_FILENO) == 1
        let options = ClusterOptions(
            runDirectory: run.runDir, binDirectory: binDir ?? defaultBinDirectory(), dataRoot: dataDir, freePorts: false,
            environment: [:],
            logSink: { service, line in
                let colour = tty ? colours[(names.firstIndex(of: service) ?? 0) % colours.count] : ""
                let reset = tty ? "\u{1B}[0m" : ""
                print("\(colour)\(service.padding(toLength: width, withPad: " ", startingAt: 0)) |\(reset) \(line)")
                fflush(nil)
            })
        var logger = Logger(label: "sagaflow")
        logger.logLevel = .warning
        let cluster: Cluster
        do {
            cluster = try await Cluster.up(file, options: options, logger: logger)
        } catch {
            throw ValidationError("the cluster did not start: \(error)\nLogs are in \(run.runDir)/logs/.")
        }
        printReady(cluster)
        await waitForTerminationSignal()
        print("stopping…")
        await cluster.down()
        print("stopped.")
    }

    func printReady(_ cluster: Cluster) {
        let api = cluster.url(of: "orchestrator") ?? "http://127.0.0.1:8080"
        var lines = ["", "Sagaflow is ready.", "  API (orchestrator)  \(api)"]
        for service in cluster.services where service != "orchestrator" {
            lines.append("  \(service.padding(toLength: 19, withPad: " ", startingAt: 0)) \(cluster.url(of: service) ?? "?")")
        }
        let binary = URL(fileURLWithPath: defaultBinDirectory()).appendingPathComponent("sagaflow").path
        let relative = binary.hasPrefix(FileManager.default.currentDirectoryPath + "/")
            ? String(binary.dropFirst(FileManager.default.currentDirectoryPath.count + 1)) : binary
        lines += [
            "Start a saga:",
            "  \(relative) start place-order --input '{\"customerId\":\"alice\",\"eventId\":\"concert\",\"seats\":2,\"amount\":1500}' --wait",
            "Stop with Ctrl-C.", "",
        ]
        print(lines.joined(separator: "\n"))
        fflush(nil)
    }

    /// Re-runs `sagaflow up` as a background process and returns once the cluster is healthy.
    func startDetached() async throws {
        try FileManager.default.createDirectory(atPath: run.runDir, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        var arguments = ["up", "--file", run.file, "--run-dir", run.runDir, "--data-dir", dataDir]
        if let binDir { arguments += ["--bin-dir", binDir] }
        process.arguments = arguments
        let log = "\(run.runDir)/sagaflow.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try String(process.processIdentifier).write(toFile: "\(run.runDir)/sagaflow.pid", atomically: true, encoding: .utf8)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw ValidationError("sagaflow up failed; see \(log)") }
            if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("Sagaflow is ready.") {
                print(text[text.range(of: "Sagaflow is ready.")!.lowerBound...].replacingOccurrences(of: "Stop with Ctrl-C.", with: "Stop with `sagaflow down`."))
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ValidationError("the cluster was not ready within 60 s; see \(log)")
    }
}

/// Suspends until SIGINT or SIGTERM.
func waitForTerminationSignal() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
    for source in sources {
        source.setEventHandler { continuation.yield() }
        source.resume()
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}

struct Down: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a cluster started with `sagaflow up -d`.")

    @OptionGroup var run: RunOptions

    func run() async throws {
        if let text = try? String(contentsOfFile: "\(run.runDir)/sagaflow.pid", encoding: .utf8), let pid = Int32(text), kill(pid, 0) == 0 {
            kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(20)
            while kill(pid, 0) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        }
        try await Cluster.downDetached(runDirectory: run.runDir, grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: "\(run.runDir)/sagaflow.pid")
        print("stopped.")
    }
}

struct Ps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the services of the running cluster: pid, port, health.")

    @OptionGroup var run: RunOptions
    @Flag(help: "Print JSON for scripts.") var json = false

    /// One service as `ps --json` prints it.
    struct Row: Encodable {
        var name: String
        var pid: Int32?
        var running: Bool
        var healthy: Bool
        var url: String?
        var restarts: Int
    }

    func run() async throws {
        guard let state = try Cluster.readState(runDirectory: run.runDir) else {
            throw ValidationError("no cluster state in \(run.runDir)/; start one with `sagaflow up -d`")
        }
        let client = HTTPClient()
        var rows: [Row] = []
        for service in state.services {
            let alive = service.pid.map { kill($0, 0) == 0 } ?? false
            var healthy = false
            if alive, let url = service.healthURL ?? service.url.map({ "\($0)/health" }) {
                healthy = (try? await client.get(url, timeout: .seconds(2)))?.status == 200
            }
            rows.append(Row(name: service.name, pid: service.pid, running: alive, healthy: healthy, url: service.url, restarts: service.restarts))
        }
        client.shutdown()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        }
        print("SERVICE        PID      STATE     HEALTH     RESTARTS  URL")
        for row in rows {
            print(
                [row.name.padding(toLength: 14, withPad: " ", startingAt: 0),
                    (row.pid.map(String.init) ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0),
                    (row.running ? "running" : "exited").padding(toLength: 9, withPad: " ", startingAt: 0),
                    (row.running ? (row.healthy ? "healthy" : "unhealthy") : "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                    String(row.restarts).padding(toLength: 9, withPad: " ", startingAt: 0), row.url ?? "-"].joined(separator: " "))
        }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the logs of one service, or of all.")

    @Argument(help: "The service (default: all).") var service: String?
    @Option(help: "Only the last N lines of each.") var tail = 200
    @OptionGroup var run: RunOptions

    func run() async throws {
        let directory = "\(run.runDir)/logs"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".log") }.sorted() ?? []
        guard !files.isEmpty else { throw ValidationError("no logs in \(directory)/; is a cluster running from this directory?") }
        let chosen = service.map { ["\($0).log"] } ?? files
        for file in chosen {
            guard let text = try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8) else {
                throw ValidationError("no log for '\(file.dropLast(4))'; services: \(files.map { $0.dropLast(4) }.joined(separator: ", "))")
            }
            let name = String(file.dropLast(4))
            for line in text.split(separator: "\n").suffix(tail) { print("\(name) | \(line)") }
        }
    }
}
