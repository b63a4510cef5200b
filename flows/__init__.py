"""The flow language: load, validate, compile and step YAML conversation flows."""
