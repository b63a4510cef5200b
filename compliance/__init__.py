"""The send gate: the sending rules of the operator's terms (seed rules R4, R25-R35)."""
