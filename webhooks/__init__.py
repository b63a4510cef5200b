"""Inbound HTTP: the RBM webhook and smsmode callbacks, turned into inbox entries at once."""
