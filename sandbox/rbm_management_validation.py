"""The bodies of the RBM management API as Google checks them (reference/rbm.md §7).

Each check raises `InvalidArgument` (400 INVALID_ARGUMENT) naming the field by its JSON path,
or `FailedPrecondition` (400 FAILED_PRECONDITION) for a change the agent's state forbids.
Where rbm.md is silent (**[?]**): unknown field names are refused as proto-JSON does; an https
URI is required for logo, hero, websites and the webhook (http is allowed on loopback, so that
a local bot can be the webhook).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sandbox.rbm_schema import InvalidArgument
from sandbox.rbm_validation import E164

NAME_LIMIT = 100
DESCRIPTION_LIMIT = 100
WEBSITES_MAX = 3
COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
BILLING_CATEGORIES = frozenset(
    {"CONVERSATIONAL", "CONVERSATIONAL_LEGACY", "BASIC_MESSAGE", "SINGLE_MESSAGE"}
    | {"NON_CONVERSATIONAL"}  # the post-2025-11 name is a guess (rbm.md §8 [?])
)
USE_CASES = frozenset({"OTP", "TRANSACTIONAL", "PROMOTIONAL", "MULTI_USE"})
HOSTING_REGIONS = frozenset({"NORTH_AMERICA", "EUROPE", "ASIA_PACIFIC"})
CONTACT_FIELDS = (
    "partnerName",
    "partnerEmailAddress",
    "brandContactName",
    "brandContactEmailAddress",
    "brandWebsiteUrl",
)
_AGENT_FIELDS = frozenset({"name", "displayName", "rcsBusinessMessagingAgent"})
_RBM_FIELDS = frozenset(
    {"description", "logoUri", "heroUri", "color", "phoneNumbers", "emails", "websites"}
    | {"privacy", "termsConditions", "billingConfig", "agentUseCase", "hostingRegion"}
)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class FailedPrecondition(Exception):
    """A request the resource's state forbids: 400 FAILED_PRECONDITION."""


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be a JSON object")
    return value


def text(value: Any, where: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{where} is required")
    if limit is not None and len(value) > limit:
        raise InvalidArgument(f"{where} is longer than {limit} characters")
    return value


def uri(value: Any, where: str) -> str:
    found = text(value, where)
    parts = urlsplit(found)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise InvalidArgument(f"{where} must be an https URL")
    return found


def display_name(value: Any, where: str) -> str:
    return text(value, where, limit=NAME_LIMIT)


def validate_agent(body: Any) -> dict[str, Any]:
    """The Agent body of a create (or a PATCH once merged), checked field by field."""
    agent = obj(body, "agent")
    _known(agent, _AGENT_FIELDS, "agent")
    display_name(agent.get("displayName"), "agent.displayName")
    rbm = obj(agent.get("rcsBusinessMessagingAgent"), "agent.rcsBusinessMessagingAgent")
    where = "agent.rcsBusinessMessagingAgent"
    _known(rbm, _RBM_FIELDS, where)
    text(rbm.get("description"), f"{where}.description", limit=DESCRIPTION_LIMIT)
    for field in ("logoUri", "heroUri"):
        if field in rbm:
            uri(rbm[field], f"{where}.{field}")
    color = rbm.get("color")
    if color is not None and (not isinstance(color, str) or not COLOR.fullmatch(color)):
        raise InvalidArgument(f"{where}.color must be a #RRGGBB colour")
    phones = _entries(rbm, "phoneNumbers", where)
    for index, entry in enumerate(phones):
        number = obj(entry.get("phoneNumber"), f"{where}.phoneNumbers[{index}].phoneNumber")
        value = number.get("number")
        if not isinstance(value, str) or not E164.fullmatch(value):
            raise InvalidArgument(f"{where}.phoneNumbers[{index}].phoneNumber.number is not E.164")
    emails = _entries(rbm, "emails", where)
    for index, entry in enumerate(emails):
        address = text(entry.get("address"), f"{where}.emails[{index}].address")
        if not EMAIL.fullmatch(address):
            raise InvalidArgument(f"{where}.emails[{index}].address is not an email address")
    websites = _entries(rbm, "websites", where)
    if len(websites) > WEBSITES_MAX:
        raise InvalidArgument(f"{where}.websites has more than {WEBSITES_MAX} entries")
    for index, entry in enumerate(websites):
        uri(entry.get("uri"), f"{where}.websites[{index}].uri")
    if not (phones or emails or websites):
        raise InvalidArgument(f"{where} needs at least one of phoneNumbers, emails, websites")
    for field in ("privacy", "termsConditions"):
        if field in rbm:
            uri(obj(rbm[field], f"{where}.{field}").get("uri"), f"{where}.{field}.uri")
    billing = obj(rbm.get("billingConfig"), f"{where}.billingConfig")
    _enum(
        billing.get("billingCategory"), BILLING_CATEGORIES, f"{where}.billingConfig.billingCategory"
    )
    _enum(rbm.get("agentUseCase"), USE_CASES, f"{where}.agentUseCase")
    _enum(rbm.get("hostingRegion"), HOSTING_REGIONS, f"{where}.hostingRegion")
    return agent


def validate_contact(body: Any) -> dict[str, Any]:
    """The body of `:requestVerification`: its agentVerificationContact, all five fields."""
    where = "agentVerificationContact"
    contact = obj(obj(body, "request").get(where), where)
    for field in CONTACT_FIELDS:
        value = text(contact.get(field), f"{where}.{field}")
        if field.endswith("EmailAddress") and not EMAIL.fullmatch(value):
            raise InvalidArgument(f"{where}.{field} is not an email address")
    uri(contact["brandWebsiteUrl"], f"{where}.brandWebsiteUrl")
    return contact


def launch_regions(launch: Any, where: str, known: frozenset[str]) -> dict[str, Any]:
    """The `launchDetails` of an AgentLaunch body: at least one known region."""
    rbm = obj(obj(launch, where).get("rcsBusinessMessaging"), f"{where}.rcsBusinessMessaging")
    details = obj(rbm.get("launchDetails"), f"{where}.rcsBusinessMessaging.launchDetails")
    if not details:
        raise InvalidArgument(f"{where}.rcsBusinessMessaging.launchDetails names no region")
    for region in details:
        if region not in known:
            raise InvalidArgument(
                f"{where}.rcsBusinessMessaging.launchDetails: unknown region {region!r}"
            )
    if "questionnaire" in rbm:
        obj(rbm["questionnaire"], f"{where}.rcsBusinessMessaging.questionnaire")
    return rbm


def _known(value: dict[str, Any], names: frozenset[str], where: str) -> None:
    for name in value:
        if name not in names:
            raise InvalidArgument(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}':"
                " Cannot find field."
            )


def _entries(rbm: dict[str, Any], field: str, where: str) -> list[dict[str, Any]]:
    value = rbm.get(field, [])
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}.{field} must be a list")
    return [obj(entry, f"{where}.{field}[{index}]") for index, entry in enumerate(value)]


def _enum(value: Any, allowed: frozenset[str], where: str) -> None:
    if value not in allowed:
        raise InvalidArgument(
            f"{where} must be one of {', '.join(sorted(allowed))} (got {value!r})"
        )
