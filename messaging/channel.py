"""The channels a message can travel on."""

from enum import StrEnum


class Channel(StrEnum):
    RCS = "rcs"  # Google RBM: rich cards, chips
    SMS = "sms"  # plain SMS from a SenderID or shortcode
    T2C = "t2c"  # Time2Chat: two-way SMS on the business's 09 number

    @property
    def is_sms(self) -> bool:
        """True for the channels that carry plain text with numbered choices."""
        return self is not Channel.RCS
