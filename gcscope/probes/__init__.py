"""Probes: each starts, stops, and contributes its part of the capture."""
