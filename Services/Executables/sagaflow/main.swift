import SagaflowCLI

await Sagaflow.launch()
