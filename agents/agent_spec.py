"""The YAML an admin writes for `causette agents create`: one RCS agent, checked before any call.

```yaml
brand: Cabinet dentaire des Tilleuls
display_name: Dentiste des Tilleuls
description: Rendez-vous et rappels du cabinet dentaire des Tilleuls, Lyon 6e.
logo_uri: https://cabinet-des-tilleuls.fr/rcs/logo.png
hero_uri: https://cabinet-des-tilleuls.fr/rcs/hero.jpg
color: "#0B78D0"          # quoted: an unquoted `#` starts a YAML comment
phones: [{number: 04 65 71 12 34, label: Accueil}]
privacy: {uri: https://cabinet-des-tilleuls.fr/confidentialite, label: Confidentialité}
terms: {uri: https://cabinet-des-tilleuls.fr/cgu, label: Conditions}
billing_category: conversational
use_case: transactional
hosting_region: europe
```

Every field is checked against the management API's limits (reference/rbm.md §7) when the
file loads, so a wrong spec costs no API call; the `*_body` methods then give the exact JSON of
the management calls. Limits the reference marks **[?]** are module constants.

Positions: agents/ may not import flows/ (DESIGN.md), so this module does not reuse the flow
loader. It composes the file with PyYAML (libyaml when present) and builds plain data itself,
recording the line and column of every key and value; each problem reads
`path:line:column: field: message`, and every problem is reported, not just the first. Scalars
stay strings (the spec has no number or boolean fields), so YAML 1.1 surprises cannot happen:
`+33465711234` is not an integer, `NO` is not false. Only `~`, `null` and an empty value are
null. Duplicate keys are problems.

Not checked here (they need a download): the logo's ≤50 KB and the hero's ≤200 KB
(`LOGO_MAX_BYTES`, `HERO_MAX_BYTES`, rbm.md §7). Fixed-after-the-fact fields (R18, rbm.md §7):
display name, logo and hero after verification, hosting region at creation, use case and
billing category after launch; any change to a validated agent needs a new validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    model_validator,
)

from agents.yaml_models import Loc, YamlModelError, parse_yaml_model
from messaging.phone import Phone

BRAND_NAME_MAX = 100
"""Brand `displayName` (rbm.md §7, create brand: ≤100)."""
DISPLAY_NAME_MAX = 100
"""Agent `displayName`: rbm.md §7 gives no limit for the agent's name [?]; the brand's 100."""
DESCRIPTION_MAX = 100
"""Agent `description` (rbm.md §7: ≤100 chars)."""
WEBSITES_MAX = 3
"""Agent `websites` (rbm.md §7: max 3)."""
LOGO_MAX_BYTES = 50 * 1024
"""Logo file (rbm.md §7: ≤50 KB); needs a download, so not checked at load time."""
HERO_MAX_BYTES = 200 * 1024
"""Hero image (rbm.md §7: ≤200 KB); needs a download, so not checked at load time."""

BILLING_CATEGORIES: dict[str, str] = {
    "conversational": "CONVERSATIONAL",
    "non_conversational": "NON_CONVERSATIONAL",
}
"""YAML value -> API `billingConfig.billingCategory` (rbm.md §8.1). `CONVERSATIONAL` is [C];
the post-2025-11-20 merge string `NON_CONVERSATIONAL` is [?]: change it here if Google differs."""
USE_CASES: dict[str, str] = {
    "otp": "OTP",
    "transactional": "TRANSACTIONAL",
    "promotional": "PROMOTIONAL",
    "multi_use": "MULTI_USE",
}
"""YAML value -> API `agentUseCase` (rbm.md §7)."""
HOSTING_REGIONS: dict[str, str] = {
    "north_america": "NORTH_AMERICA",
    "europe": "EUROPE",
    "asia_pacific": "ASIA_PACIFIC",
}
"""YAML value -> API `hostingRegion` (rbm.md §7)."""
REGION_PREFIX = "/v1/regions/"
"""Launch regions are keyed `/v1/regions/<carrier id>` (rbm.md §7, request launch)."""

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_REGION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SpecError(YamlModelError):
    """An agent spec that cannot be used; `problems` lists each one as
    `path:line:column: field: message`, in file order."""


# --- field types ------------------------------------------------------------------------------


def _text(limit: int | None = None) -> Any:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if limit is not None and len(value) > limit:
            raise ValueError(f"{len(value)} characters, the RBM limit is {limit} (rbm.md §7)")
        return value

    return AfterValidator(check)


def _https(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or " " in value:
        raise ValueError(f"`{value}` is not an https:// URL (RBM takes https URLs only, rbm.md §7)")
    return value


def _color(value: str) -> str:
    if not _COLOR.match(value):
        raise ValueError(f"`{value}` is not a colour written #RRGGBB (rbm.md §7)")
    return value


def region_id(value: str) -> str:
    """A carrier id from `orange-fr` or `/v1/regions/orange-fr`; `ValueError` otherwise."""
    region = value.strip().removeprefix(REGION_PREFIX)
    if not _REGION_ID.match(region):
        raise ValueError(f"`{value}` is not a carrier region id (see `GET /v1/regions`, rbm.md §7)")
    return region


Text = Annotated[str, _text()]
HttpsUrl = Annotated[str, AfterValidator(_https)]
Color = Annotated[str, AfterValidator(_color)]
RegionId = Annotated[str, AfterValidator(region_id)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhoneEntry(_Model):
    number: Phone
    label: Text


class EmailEntry(_Model):
    address: EmailStr
    label: Text


class WebEntry(_Model):
    uri: HttpsUrl
    label: Text


class Verification(_Model):
    """`agentVerificationContact` of `:requestVerification` (rbm.md §7)."""

    partner_name: Text
    partner_email: EmailStr
    brand_contact_name: Text
    brand_contact_email: EmailStr
    brand_website: HttpsUrl


def _some(items: tuple[Any, ...]) -> tuple[Any, ...]:
    if not items:
        raise ValueError("give at least one")
    return items


class QuestionnaireContact(_Model):
    name: Text
    title: Text
    email: EmailStr


class Questionnaire(_Model):
    """The launch questionnaire (rbm.md §7): how users opt in and out, what the agent sends."""

    contacts: Annotated[tuple[QuestionnaireContact, ...], AfterValidator(_some)]
    optin_description: Text
    trigger_description: Text
    interactions_description: Text
    optout_description: Text
    agent_access_instructions: Text
    video_uris: tuple[HttpsUrl, ...] = ()
    screenshot_uris: tuple[HttpsUrl, ...] = ()


class Launch(_Model):
    regions: tuple[RegionId, ...] = ()
    """Carrier region ids (`fr-orange`, or the full `/v1/regions/fr-orange`)."""
    questionnaire: Questionnaire


def _websites(items: tuple[WebEntry, ...]) -> tuple[WebEntry, ...]:
    if len(items) > WEBSITES_MAX:
        raise ValueError(f"{len(items)} websites, RBM allows at most {WEBSITES_MAX} (rbm.md §7)")
    return items


def _unique_phones(items: tuple[Phone, ...]) -> tuple[Phone, ...]:
    seen: set[Phone] = set()
    for phone in items:
        if phone in seen:
            raise ValueError(f"{phone.masked} is listed twice")
        seen.add(phone)
    return items


class AgentSpec(_Model):
    """One RCS agent as `causette agents create` registers it (rbm.md §7, R18)."""

    brand: Annotated[str, _text(BRAND_NAME_MAX)]
    display_name: Annotated[str, _text(DISPLAY_NAME_MAX)]
    description: Annotated[str, _text(DESCRIPTION_MAX)]
    logo_uri: HttpsUrl
    hero_uri: HttpsUrl
    color: Color
    phones: tuple[PhoneEntry, ...] = ()
    emails: tuple[EmailEntry, ...] = ()
    websites: Annotated[tuple[WebEntry, ...], AfterValidator(_websites)] = ()
    privacy: WebEntry
    terms: WebEntry
    billing_category: Literal["conversational", "non_conversational"]
    use_case: Literal["otp", "transactional", "promotional", "multi_use"]
    hosting_region: Literal["north_america", "europe", "asia_pacific"]
    verification: Verification | None = None
    launch: Launch | None = None
    testers: Annotated[tuple[Phone, ...], AfterValidator(_unique_phones)] = ()

    @model_validator(mode="after")
    def _one_contact_channel(self) -> AgentSpec:
        if not (self.phones or self.emails or self.websites):  # rbm.md §7
            raise ValueError(
                "give at least one of `phones`, `emails`, `websites` (RBM requires one, rbm.md §7)"
            )
        return self

    def brand_body(self) -> dict[str, Any]:
        """Body of `POST /v1/brands`."""
        return {"displayName": self.brand}

    def agent_body(self) -> dict[str, Any]:
        """Body of `POST /v1/brands/{brand}/agents`: the Agent of rbm.md §7."""
        rbm: dict[str, Any] = {
            "description": self.description,
            "logoUri": self.logo_uri,
            "heroUri": self.hero_uri,
            "color": self.color,
        }
        if self.phones:
            rbm["phoneNumbers"] = [
                {"phoneNumber": {"number": p.number.e164}, "label": p.label} for p in self.phones
            ]
        if self.emails:
            rbm["emails"] = [{"address": e.address, "label": e.label} for e in self.emails]
        if self.websites:
            rbm["websites"] = [{"uri": w.uri, "label": w.label} for w in self.websites]
        rbm["privacy"] = {"uri": self.privacy.uri, "label": self.privacy.label}
        rbm["termsConditions"] = {"uri": self.terms.uri, "label": self.terms.label}
        rbm["billingConfig"] = {"billingCategory": BILLING_CATEGORIES[self.billing_category]}
        rbm["agentUseCase"] = USE_CASES[self.use_case]
        rbm["hostingRegion"] = HOSTING_REGIONS[self.hosting_region]
        return {"displayName": self.display_name, "rcsBusinessMessagingAgent": rbm}

    def verification_body(self) -> dict[str, Any]:
        """Body of `:requestVerification`; `ValueError` when the spec has no `verification`."""
        if self.verification is None:
            raise ValueError("the agent spec has no `verification` section")
        v = self.verification
        return {
            "agentVerificationContact": {
                "partnerName": v.partner_name,
                "partnerEmailAddress": v.partner_email,
                "brandContactName": v.brand_contact_name,
                "brandContactEmailAddress": v.brand_contact_email,
                "brandWebsiteUrl": v.brand_website,
            }
        }

    def launch_body(self, regions: Iterable[str] | None = None) -> dict[str, Any]:
        """Body of `:requestLaunch` (or of the launch PATCH, which must list every region, the
        launched ones too: rbm.md §7). `regions` defaults to `launch.regions`; each is a carrier
        id or a `/v1/regions/...` name. `ValueError` without a `launch` section or a region."""
        if self.launch is None:
            raise ValueError("the agent spec has no `launch` section")
        ids = self.launch.regions if regions is None else tuple(region_id(r) for r in regions)
        if not ids:
            raise ValueError("no launch region: list carrier ids under `launch.regions`")
        q = self.launch.questionnaire
        questionnaire: dict[str, Any] = {
            "contacts": [{"name": c.name, "title": c.title, "email": c.email} for c in q.contacts],
            "optinDescription": q.optin_description,
            "triggerDescription": q.trigger_description,
            "interactionsDescription": q.interactions_description,
            "optoutDescription": q.optout_description,
            "agentAccessInstructions": q.agent_access_instructions,
            "videoUris": list(q.video_uris),
            "screenshotUris": list(q.screenshot_uris),
        }
        details: dict[str, Any] = {REGION_PREFIX + region: {} for region in dict.fromkeys(ids)}
        return {
            "agentLaunch": {
                "rcsBusinessMessaging": {"questionnaire": questionnaire, "launchDetails": details}
            }
        }


# --- loading ----------------------------------------------------------------------------------


def _colour_hint(loc: Loc, data: Any, message: str) -> str:
    if loc == ("color",) and isinstance(data, dict) and data.get("color", "") is None:
        return 'quote the colour: `color: "#0B78D0"` (an unquoted # starts a comment)'
    return message


def parse_agent_spec(text: str, path: str = "<string>") -> AgentSpec:
    """Read an agent spec from YAML text; `SpecError` lists every problem with its position."""
    nested = (PhoneEntry, EmailEntry, WebEntry, Verification, Launch, Questionnaire)
    return parse_yaml_model(
        AgentSpec,
        text,
        path,
        models=(*nested, QuestionnaireContact),
        hint=_colour_hint,
        error=SpecError,
    )


def load_agent_spec(path: str | Path) -> AgentSpec:
    """Read an agent spec file; `SpecError` lists every problem as `path:line:column: ...`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([f"{name}:1:1: cannot read file: {error}"]) from None
    return parse_agent_spec(text, name)
