"""The `compliance:` section of `bots.yaml` (the sending rules of the whole deployment) and each
bot's `compliance:` (its business, keywords, confirmation, consent), read into the pure
policies of `compliance/`.

```yaml
compliance:
  business: cabinet-du-prado       # who opt-outs and the red list belong to (R25, R6)
  short_number: "36034"            # the STOP mention of marketing SMS: "STOP au 36034"
  force_stop_mention: false        # add it even when it costs a segment
  quiet_hours: {days: [mon, tue, wed, thu, fri, sat], start: "08:00", end: "20:00",
                public_holidays: true, alsace_moselle: false}
  urls: {allowed_domains: [cabinet-du-prado.fr]}   # shorteners and raw IPs are always refused
  sender_ids: {forbidden: [], authorised_only: [], authorisations: {}}
  retention: {active_months: 6, archive_months: 12}
  erasure_salt_env: CAUSETTE_ERASURE_SALT
bots:
  - id: promo
    compliance: {stop_words: [STOP, ARRET], start_words: [START], country: FR,
                 consent_required: true, consent_field: opt_in}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Annotated, Literal

from pydantic import Field

from bots.config_fields import ConfigModel
from compliance.gate import GatePolicy
from compliance.keywords import DEFAULT_START, DEFAULT_STOP, Keywords
from compliance.quiet_hours import QuietHours
from compliance.retention import Retention
from compliance.sender_ids import Authorisation, SenderIdRules
from compliance.stop_mention import stop_mention
from compliance.urls import UrlPolicy

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

CONFIRMATIONS = {
    # R26: where the law asks for it, the opt-out is confirmed from the sending account.
    "FR": (
        "Votre demande est prise en compte : vous ne recevrez plus nos messages commerciaux. "
        "Envoyez START pour vous réabonner."
    ),
}
OPT_IN_CONFIRMATION = (
    "C'est noté : vous recevrez de nouveau nos messages. Envoyez STOP pour vous désabonner."
)


class QuietHoursSettings(ConfigModel):
    days: list[Day] = Field(default_factory=lambda: list(_DAYS[:6]))
    start: time = time(8, 0)
    end: time = time(20, 0)
    public_holidays: bool = True
    alsace_moselle: bool = False

    def policy(self) -> QuietHours:
        return QuietHours(
            days=frozenset(_DAYS.index(day) for day in self.days),
            start=self.start,
            end=self.end,
            public_holidays=self.public_holidays,
            alsace_moselle=self.alsace_moselle,
        )


class UrlSettings(ConfigModel):
    allowed_domains: list[str] = Field(default_factory=list)
    more_shorteners: list[str] = Field(default_factory=list)

    def policy(self) -> UrlPolicy:
        base = UrlPolicy()
        return UrlPolicy(
            shorteners=base.shorteners | frozenset(self.more_shorteners),
            allowed_domains=frozenset(self.allowed_domains),
        )


class AuthorisationSettings(ConfigModel):
    reference: Annotated[str, Field(min_length=1)]
    valid_until: date


class SenderIdSettings(ConfigModel):
    forbidden: list[str] = Field(default_factory=list)
    """The AF2M's strictly forbidden SenderIDs (SI)."""
    authorised_only: list[str] = Field(default_factory=list)
    """SenderIDs forbidden unless authorised (ISA)."""
    authorisations: dict[str, AuthorisationSettings] = Field(default_factory=dict)

    def rules(self) -> SenderIdRules:
        return SenderIdRules(
            forbidden=frozenset(self.forbidden),
            authorised_only=frozenset(self.authorised_only),
            authorisations={
                sender: Authorisation(item.reference, item.valid_until)
                for sender, item in self.authorisations.items()
            },
        )


class RetentionSettings(ConfigModel):
    active_months: Annotated[int, Field(ge=1)] = 6
    archive_months: Annotated[int, Field(ge=0)] = 12

    def policy(self) -> Retention:
        return Retention(active_months=self.active_months, archive_months=self.archive_months)


class ComplianceSettings(ConfigModel):
    business: Annotated[str, Field(min_length=1)] = "default"
    short_number: Annotated[str, Field(pattern=r"^3\d{4}$")] = "36034"
    force_stop_mention: bool = False
    quiet_hours: QuietHoursSettings = Field(default_factory=QuietHoursSettings)
    urls: UrlSettings = Field(default_factory=UrlSettings)
    sender_ids: SenderIdSettings = Field(default_factory=SenderIdSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    erasure_salt_env: str | None = None
    """Names the variable holding the salt of erased numbers' hashes (R34)."""

    def gate(self) -> GatePolicy:
        return GatePolicy(quiet_hours=self.quiet_hours.policy(), urls=self.urls.policy())

    def erasure_salt(self, environ: Mapping[str, str]) -> str | None:
        """The salt erasure hashes numbers with, or None when none is configured."""
        return environ.get(self.erasure_salt_env) if self.erasure_salt_env else None

    @property
    def stop_mention(self) -> str:
        return stop_mention(self.short_number)


class BotCompliance(ConfigModel):
    business: str | None = None
    """Overrides the deployment's business (an RCS agent and SMS numbers of one business
    share one opt-out record, R25)."""
    stop_words: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_STOP)
    )
    start_words: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_START)
    )
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "FR"
    """Whether an opt-out is confirmed depends on it (R26; France: yes)."""
    confirm_opt_out: bool | None = None
    """None: as the country requires."""
    opt_out_confirmation: str | None = None
    opt_in_confirmation: str = OPT_IN_CONFIRMATION
    consent_required: bool = False
    """Refuse marketing to contacts without a recorded opt-in (R30)."""
    consent_field: str = "opt_in"

    def keywords(self) -> Keywords:
        return Keywords(stop=tuple(self.stop_words), start=tuple(self.start_words))

    def confirmation(self) -> str | None:
        """The text confirming an opt-out, or None when none is sent."""
        required = self.confirm_opt_out
        if required is None:
            required = self.country in CONFIRMATIONS
        if not required:
            return None
        return self.opt_out_confirmation or CONFIRMATIONS.get(self.country, CONFIRMATIONS["FR"])
