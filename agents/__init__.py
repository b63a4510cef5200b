"""Sender identities and provider clients: RBM (Google) and smsmode."""
