import Foundation
import Logging
import SagaProtocol

extension ParticipantDefinition {
    /// What a participant's `@main` calls: `--help`, settings, start, serve until SIGTERM. Exits non-zero on a bad setting.
    public func runMain(arguments: [String] = CommandLine.arguments) async {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(ParticipantSettings.help(name: name, defaultPort: defaultPort, extra: helpRows))
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: name)
        if ParentWatch.startIfAsked() { logger.info("will stop when its parent process ends (SAGAFLOW_EXIT_WITH_PARENT=1)") }
        do {
            let settings = try ParticipantSettings(
                name: name, defaultPort: defaultPort, reader: ParticipantSettings.reader(arguments: arguments))
            let participant = try await Participant.start(self, settings: settings, logger: logger)
            try await participant.run()
        } catch {
            logger.critical("\(name) stopped with an error", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
