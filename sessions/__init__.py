"""Billable sessions and the usage ledger: what each message sent or received costs, and why
(seed rules R7-R16, R21-R24; reference/rbm.md §8)."""
