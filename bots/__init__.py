"""The runtime that wires everything: configuration, CLI."""
