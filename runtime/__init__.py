"""The per-frame loop on a Jetson or a CPU: sources, localisation, backends, attention. No torch."""
