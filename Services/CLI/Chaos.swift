import ArgumentParser
import Compose
import Foundation
import SagaProtocol

/// `sagaflow chaos`: sagas under injected faults and SIGKILLs, then the invariant checker's verdict.
struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run sagas while injecting faults and killing services, then check every invariant.",
        discussion: """
            Every participant gets a seeded fault plan through PUT /admin/faults (about 20% of commands faulted at \
            --fault-scale 1: sold-out reservations, 503s, payment delays beyond the step timeout, replies lost before \
            and after the commit, crashes before and after the commit), re-applied whenever a participant restarts. \
            --kills services (the orchestrator included) are SIGKILLed, spread evenly over the run, and restarted by \
            the supervisor. Then the faults are cleared, every saga must end, and the checker compares each \
            service's own state with ARCHITECTURE.md §5's invariants. Exits 1 on any violation.
            Against a cluster started with `sagaflow up -d` (pids from --run-dir), or one of its own with --start-cluster.
            Example: sagaflow chaos --start-cluster --sagas 1000 --kills 10 --seed 7
            """)

    @Option(help: "Sagas to start.") var sagas = 300
    @Option(help: "Clients at once, each starting a saga and waiting for its end.") var concurrency = 16
    @Option(help: "Seeds the faults and the kill order; the same seed repeats the same plan (default: random, printed).")
    var seed: UInt64?
    @Option(help: "SIGKILLs, spread evenly over the run.") var kills = 6
    @Option(help: "Multiplies every fault probability (0: no faults, only kills).") var faultScale = 1.0
    @Option(help: "Seconds a saga may take to end before it counts as stuck.") var sagaTimeout = 120
    @Flag(help: "Start a cluster from --file on free ports with fresh data in a temporary directory, stop it after.")
    var startCluster = false
    @OptionGroup var run: RunOptions
    @OptionGroup var api: APIOptions

    func validate() throws {
        guard sagas > 0 else { throw ValidationError("--sagas must be at least 1") }
        guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
        guard kills >= 0 else { throw ValidationError("--kills cannot be negative") }
        guard faultScale >= 0 else { throw ValidationError("--fault-scale cannot be negative") }
        guard sagaTimeout > 0 else { throw ValidationError("--saga-timeout must be at least 1") }
    }

    func run() async throws {
        var options = ChaosOptions()
        options.sagas = sagas
        options.concurrency = concurrency
        options.seed = seed ?? UInt64.random(in: 1...999_999)
        options.kills = kills
        options.faultScale = faultScale
        options.sagaTimeout = .seconds(sagaTimeout)

        let secret = ProcessEnvironment.value("SAGAFLOW_SECRET") ?? (try? ComposeFile.load(path: run.file))?.secret
        let cluster = startCluster
            ? try await BenchCluster.start(composeFile: run.file)
            : BenchCluster.existing(url: api.url, runDirectory: run.runDir)
        let missing = (ChaosRun.killable).filter { cluster.serviceURLs[$0] == nil || cluster.pids()[$0] == nil }
        guard missing.isEmpty else {
            await cluster.stop()
            throw ValidationError(
                "chaos needs the pids and URLs of \(missing.joined(separator: ", ")): start the cluster with `sagaflow up -d` "
                    + "(its --run-dir, here '\(run.runDir)', records them) or pass --start-cluster")
        }
        var urls = cluster.serviceURLs
        urls["orchestrator"] = cluster.url
        let target = ChaosTarget(
            urls: urls, pid: { cluster.pids()[$0] }, restarts: cluster.restarts,
            signer: SigningSecrets(secret).map(RequestSigner.init))
        print("chaos: \(sagas) sagas, concurrency \(concurrency), \(kills) SIGKILLs, fault scale \(faultScale), seed \(options.seed)")
        let bar = ChaosProgressLine()
        let chaos = ChaosRun(options: options, target: target) { bar.show(ended: $0, total: $1) }
        let outcome = await Result(catching: {
            try await untilInterrupted { try await chaos.run() }
        })
        bar.finish()
        await cluster.stop()
        guard let report = try outcome.get() else { throw ExitCode(130) }
        print(report)
        print("repeat with: sagaflow chaos --seed \(options.seed) --sagas \(sagas) --concurrency \(concurrency) --kills \(kills)"
            + (faultScale == 1 ? "" : " --fault-scale \(faultScale)") + (startCluster ? " --start-cluster" : ""))
        if !report.ok { throw ExitCode(1) }
    }
}

/// The chaos run's progress on stderr: a bar redrawn in place on a terminal, a line per tenth otherwise.
private final class ChaosProgressLine: Sendable {
    let isTerminal = isatty(STDERR_FILENO) == 1
    let started = ContinuousClock.now

    func show(ended: Int, total: Int) {
        let elapsed = (ContinuousClock.now - started).inSeconds
        let figures = "\(ended)/\(total) sagas ended  \(String(format: "%.1f", elapsed)) s"
        if isTerminal {
            let filled = total > 0 ? ended * 30 / total : 0
            write("\r\u{1B}[2K[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] " + figures)
        } else if total >= 10, ended % (total / 10) == 0 {
            write(figures + "\n")
        }
    }

    func finish() {
        if isTerminal { write("\r\u{1B}[2K") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
