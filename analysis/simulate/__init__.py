"""Simulated studies with known effects: session folders, trial tables, synthetic faces, power."""
