"""Micro-benchmarks of the engine and the store. Two modules are scripts, run from the
repository root: `python benchmarks/flow_step.py` and `python benchmarks/store.py`; the other
modules are their parts (`flow_step_*`, `store_*`) and what both share (`reporting`)."""
