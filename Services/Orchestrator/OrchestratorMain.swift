import Foundation
import Logging
import SagaProtocol

extension Orchestrator {
    /// What the `orchestrator` executable runs: `--help`, settings, start, serve until SIGTERM.
    public static func runMain(arguments: [String] = CommandLine.arguments) async {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(OrchestratorSettings.help)
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "orchestrator")
        if ParentWatch.startIfAsked() { logger.info("will stop when its parent process ends (SAGAFLOW_EXIT_WITH_PARENT=1)") }
        do {
            let settings = try OrchestratorSettings(reader: OrchestratorSettings.reader(arguments: arguments))
            let orchestrator = try await Orchestrator.start(settings: settings, logger: logger)
            try await orchestrator.run()
        } catch {
            logger.critical("orchestrator stopped with an error", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
