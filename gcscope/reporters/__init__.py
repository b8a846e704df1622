"""Reporters: each turns a capture (never live probes) into one output format."""
