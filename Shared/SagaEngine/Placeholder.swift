// SagaEngine: to be written
