import OrchestratorService

await Orchestrator.runMain()
