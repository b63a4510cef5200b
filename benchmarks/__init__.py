"""Micro-benchmarks of the engine; run each module as a script (`python benchmarks/NAME.py`)."""
