public import ArgumentParser

/// The `sagaflow` command: run the cluster and drive sagas from a terminal.
public struct Sagaflow: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sagaflow",
        abstract: "Run a Sagaflow cluster and start, inspect and watch sagas.",
        subcommands: [Up.self, Down.self, Ps.self, Logs.self, Start.self, Get.self, List.self, Watch.self, Tail.self, Bench.self, Chaos.self])

    public init() {}
}

/// Options every API command shares.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("url"), help: "The orchestrator's base URL (env SAGAFLOW_URL).")
    var url: String = ProcessEnvironment.value("SAGAFLOW_URL") ?? "http://127.0.0.1:8080"

    @Flag(help: "Print JSON for scripts instead of text for people.")
    var json = false
}

extension Sagaflow {
    /// Parses the command line and runs the chosen subcommand; what the `sagaflow` executable calls.
    public static func launch() async {
        await main()
    }
}
