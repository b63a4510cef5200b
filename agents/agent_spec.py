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

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    ValidationError,
    model_validator,
)

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

Position = tuple[int, int]
Loc = tuple[str | int, ...]


class SpecError(Exception):
    """An agent spec that cannot be used; `problems` lists each one as
    `path:line:column: field: message`, in file order."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) or "invalid agent spec")


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


def _region(value: str) -> str:
    region = value.strip().removeprefix(REGION_PREFIX)
    if not _REGION_ID.match(region):
        raise ValueError(f"`{value}` is not a carrier region id (see `GET /v1/regions`, rbm.md §7)")
    return region


Text = Annotated[str, _text()]
HttpsUrl = Annotated[str, AfterValidator(_https)]
Color = Annotated[str, AfterValidator(_color)]
RegionId = Annotated[str, AfterValidator(_region)]


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
        ids = self.launch.regions if regions is None else tuple(_region(r) for r in regions)
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

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"


def _known_keys() -> list[str]:
    models: list[type[BaseModel]] = [
        AgentSpec, PhoneEntry, EmailEntry, WebEntry, Verification, Launch, Questionnaire,
        QuestionnaireContact,
    ]  # fmt: skip
    return sorted({name for model in models for name in model.model_fields})


class _Tree:
    """Plain data built from YAML nodes, with the position of every value and key."""

    def __init__(self) -> None:
        self.values: dict[Loc, Position] = {(): (1, 1)}
        self.keys: dict[Loc, Position] = {}
        self.problems: list[tuple[Position, str]] = []
        self._active: set[int] = set()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.values[loc] = _mark(node)
        if id(node) in self._active:
            self.problems.append((_mark(node), f"{_dotted(loc)}: recursive YAML alias"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*loc, i)) for i, child in enumerate(node.value)]
            # Only a plain `~`, `null` or empty value resolves to the null tag (YAML 1.1 and
            # 1.2 agree there); every other scalar stays a string.
            return None if node.tag == _NULL_TAG else str(node.value)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append((_mark(key_node), "a key must be a plain value"))
                continue
            key = str(key_node.value)
            if key in data:
                first = self.keys[(*loc, key)][0]
                where = _dotted((*loc, key))
                message = f"{where}: duplicate key (first at line {first})"
                self.problems.append((_mark(key_node), message))
                continue
            self.keys[(*loc, key)] = _mark(key_node)
            data[key] = self.build(value_node, (*loc, key))
        return data

    def locate(self, loc: Loc) -> Loc:
        """The longest part of a pydantic `loc` that names a node of the file."""
        found: Loc = ()
        for part in loc:
            if (*found, part) in self.values:
                found = (*found, part)
        return found


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(tree: _Tree, loc: Loc, kind: str, message: str) -> tuple[Position, str]:
    """One pydantic error as a position and `field: message`, worded for a person."""
    if kind == "extra_forbidden":
        parent = tree.locate(loc[:-1])
        key = str(loc[-1])
        text = f"unknown key `{key}`"
        close = difflib.get_close_matches(key, _known_keys(), n=1)
        if close:
            text += f" (did you mean `{close[0]}`?)"
        position = tree.keys.get((*parent, key), tree.values[parent])
        return position, f"{_dotted(parent)}: {text}" if parent else text
    if kind == "missing":
        parent = tree.locate(loc[:-1])
        text = f"missing `{loc[-1]}`"
        return tree.values[parent], f"{_dotted(parent)}: {text}" if parent else text
    found = tree.locate(loc)
    text = message.removeprefix("Value error, ")
    return tree.values[found], f"{_dotted(found)}: {text}" if found else text


def _null_color(data: Any) -> bool:
    return isinstance(data, dict) and "color" in data and data["color"] is None


def parse_agent_spec(text: str, path: str = "<string>") -> AgentSpec:
    """Read an agent spec from YAML text; `SpecError` lists every problem with its position."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {error.problem or error.context}"
        raise SpecError([f"{path}:{line}:{column}: {message}"]) from None
    except yaml.YAMLError as error:
        raise SpecError([f"{path}:1:1: YAML error: {error}"]) from None
    if node is None:
        raise SpecError([f"{path}:1:1: the file is empty"])
    tree = _Tree()
    data = tree.build(node, ())
    problems = list(tree.problems)
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as error:
        for detail in error.errors():
            message = detail["msg"]
            if tuple(detail["loc"]) == ("color",) and _null_color(data):
                message = 'quote the colour: `color: "#0B78D0"` (an unquoted # starts a comment)'
            problems.append(_problem(tree, tuple(detail["loc"]), detail["type"], message))
    else:
        if not problems:
            return spec
    problems.sort(key=lambda p: p[0])
    raise SpecError([f"{path}:{line}:{column}: {message}" for (line, column), message in problems])


def load_agent_spec(path: str | Path) -> AgentSpec:
    """Read an agent spec file; `SpecError` lists every problem as `path:line:column: ...`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([f"{name}:1:1: cannot read file: {error}"]) from None
    return parse_agent_spec(text, name)
