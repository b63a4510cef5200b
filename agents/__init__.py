"""Sender identities and provider clients: RBM (Google), smsmode; agent and 09-number registries."""
