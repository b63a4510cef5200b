"""The `billing:` section of `bots.yaml`, read into `sessions.policy.BillingPolicy`.

```yaml
billing:
  currency: EUR
  prices:                 # per destination region (ISO 3166) and class; `*` for any
    "*": {sms_mt: 0.045, t2c_mt: 0.05, t2c_session: 0.09, rcs_basic: 0.02, rcs_single: 0.045}
    BE: {sms_mt: 0.075}
  long_mt: segments       # R13 "more than 160 characters": segments (default) or characters
  long_mt_in_session_billed: true
  rcs_basic_measure: bytes  # R21's 160: bytes (Google's reports) or characters
  count_at: {rcs_basic: delivered, rcs_single: delivered}  # else submitted (R7)
  prepaid: false          # true: sends wait when the prepaid credits are spent (R8)
```
Every price left out keeps its list price (`sessions.policy.DEFAULT_PRICES`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator

from bots.config_fields import ConfigModel
from sessions.classes import BillingClass
from sessions.policy import DEFAULT_COUNT_AT, DEFAULT_PRICES, BillingPolicy, Moment, PriceTable

Price = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class BillingSettings(ConfigModel):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    prices: dict[str, dict[BillingClass, Price]] = Field(
        default_factory=lambda: {"*": dict(DEFAULT_PRICES)}
    )
    long_mt: Literal["segments", "characters"] = "segments"
    long_mt_in_session_billed: bool = True
    rcs_basic_measure: Literal["bytes", "characters"] = "bytes"
    count_at: dict[BillingClass, Moment] = Field(default_factory=lambda: dict(DEFAULT_COUNT_AT))
    prepaid: bool = False
    """Prepaid credits (R8): when their balance is spent, messages wait (`causette billing
    credits add`)."""

    @field_validator("prices")
    @classmethod
    def _regions(
        cls, prices: dict[str, dict[BillingClass, Decimal]]
    ) -> dict[str, dict[BillingClass, Decimal]]:
        for region in prices:
            if region != "*" and not (len(region) == 2 and region.isalpha() and region.isupper()):
                raise ValueError(f"`{region}` is not a region: write `*` or a code such as `FR`")
        return prices

    def policy(self) -> BillingPolicy:
        return BillingPolicy(
            prices=PriceTable(self.prices, self.currency),
            long_mt=self.long_mt,
            long_mt_in_session_billed=self.long_mt_in_session_billed,
            rcs_basic_measure=self.rcs_basic_measure,
            count_at=self.count_at,
        )
