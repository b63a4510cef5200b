"""The billing classes: one name per price line, in the ledger, the config and the reports."""

from __future__ import annotations

from enum import StrEnum


class BillingClass(StrEnum):
    T2C_MT = "t2c_mt"  # R12, R14: an MT from a 09 number with no session open
    T2C_SESSION = "t2c_session"  # R14, R16: a session opened by an MO, until midnight Paris
    SMS_MT = "sms_mt"  # plain SMS, per segment: SenderID, fallback, long T2C MT (R13)
    RCS_BASIC = "rcs_basic"  # R21: text only, no suggestion, no media, at most 160 bytes
    RCS_SINGLE = "rcs_single"  # R21: anything richer or longer
    RCS_A2P_SESSION = "rcs_a2p_session"  # R22: the person answered the agent within 24 h
    RCS_P2A_SESSION = "rcs_p2a_session"  # R22: the agent answered the person within 24 h
    RCS_ACTIVE_AGENT = "rcs_active_agent"  # R24: an agent that sent anything this month
    COVERED = "covered"  # a message inside an open session: recorded, not billed (R15, R22)
