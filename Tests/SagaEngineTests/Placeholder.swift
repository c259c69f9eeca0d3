// SagaEngineTests: to be written
