"""Offline stand-ins for the RBM and smsmode APIs, speaking their real wire formats, and the web phone simulator."""
