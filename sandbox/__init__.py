"""Offline stand-ins for the RBM and smsmode APIs, in their real wire formats, and the web
phone simulator."""
