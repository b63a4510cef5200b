"""Persistence behind one async interface: SQLite (embedded default) and MongoDB."""
