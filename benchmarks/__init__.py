"""Benchmarks of the engine, the store and the dispatcher. Three modules are scripts, run from
the repository root: `python benchmarks/flow_step.py`, `python benchmarks/store.py` and
`python benchmarks/dispatch.py`; the other modules are their parts (`flow_step_*`, `store_*`,
`dispatch_*`) and what they share (`reporting`)."""
