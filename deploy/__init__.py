"""TensorRT engines, the Jetson bundle, the service, health checks. No torch."""
