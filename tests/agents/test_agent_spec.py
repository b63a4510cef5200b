"""`causette agents create`'s agent spec: rbm.md §7 limits, exact bodies, located problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.agent_spec import (
    BILLING_CATEGORIES,
    DESCRIPTION_MAX,
    DISPLAY_NAME_MAX,
    WEBSITES_MAX,
    AgentSpec,
    SpecError,
    load_agent_spec,
    parse_agent_spec,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents" / "cabinet.yaml"

MINIMAL = """\
brand: Cabinet
display_name: Cabinet
description: Rendez-vous
logo_uri: https://example.fr/logo.png
hero_uri: https://example.fr/hero.png
color: "#0B78D0"
emails: [{address: accueil@example.fr, label: Accueil}]
privacy: {uri: https://example.fr/privacy, label: Confidentialité}
terms: {uri: https://example.fr/terms, label: Conditions}
billing_category: conversational
use_case: transactional
hosting_region: europe
"""


def spec(**changes: Any) -> AgentSpec:
    """The minimal spec with some top-level keys replaced (a value of None removes the key)."""
    data = yaml.safe_load(MINIMAL)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_agent_spec(yaml.safe_dump(data, allow_unicode=True), "agent.yaml")


def problems(**changes: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        spec(**changes)
    return caught.value.problems


def test_example_gives_the_exact_agent_body() -> None:
    agent = load_agent_spec(EXAMPLE)
    site = "https://cabinet-des-tilleuls.fr"
    assert agent.agent_body() == {
        "displayName": "Dentiste des Tilleuls",
        "rcsBusinessMessagingAgent": {
            "description": (
                "Vos rendez-vous, rappels et conseils du cabinet dentaire des Tilleuls, Lyon 6e."
            ),
            "logoUri": f"{site}/rcs/logo-224.png",
            "heroUri": f"{site}/rcs/banniere-1440x448.jpg",
            "color": "#1B6F8A",
            "phoneNumbers": [
                {"phoneNumber": {"number": "+33465711234"}, "label": "Accueil du cabinet"}
            ],
            "emails": [
                {"address": "accueil@cabinet-des-tilleuls.fr", "label": "Écrire au cabinet"}
            ],
            "websites": [
                {"uri": site, "label": "Site du cabinet"},
                {"uri": f"{site}/rendez-vous", "label": "Prendre rendez-vous"},
            ],
            "privacy": {"uri": f"{site}/confidentialite", "label": "Confidentialité"},
            "termsConditions": {"uri": f"{site}/conditions", "label": "Conditions d'utilisation"},
            "billingConfig": {"billingCategory": "CONVERSATIONAL"},
            "agentUseCase": "TRANSACTIONAL",
            "hostingRegion": "EUROPE",
        },
    }
    assert agent.brand_body() == {"displayName": "Cabinet dentaire des Tilleuls"}
    assert [t.e164 for t in agent.testers] == ["+33465711235"]


def test_example_verification_and_launch_bodies() -> None:
    agent = load_agent_spec(EXAMPLE)
    assert agent.verification_body() == {
        "agentVerificationContact": {
            "partnerName": "Causette",
            "partnerEmailAddress": "partenaires@causette.example",
            "brandContactName": "Dr Claire Martin",
            "brandContactEmailAddress": "claire.martin@cabinet-des-tilleuls.fr",
            "brandWebsiteUrl": "https://cabinet-des-tilleuls.fr",
        }
    }
    launch = agent.launch_body()["agentLaunch"]["rcsBusinessMessaging"]
    assert list(launch["launchDetails"]) == [
        "/v1/regions/orange-fr",
        "/v1/regions/sfr-fr",
        "/v1/regions/bouygues-fr",
        "/v1/regions/free-fr",
    ]
    questionnaire = launch["questionnaire"]
    assert questionnaire["contacts"] == [
        {
            "name": "Claire Martin",
            "title": "Chirurgien-dentiste, gérante",
            "email": "claire.martin@cabinet-des-tilleuls.fr",
        }
    ]
    assert questionnaire["optoutDescription"].startswith("Le patient répond STOP")
    assert questionnaire["videoUris"] == []
    assert questionnaire["screenshotUris"] == [
        "https://cabinet-des-tilleuls.fr/rcs/capture-rappel.png"
    ]
    assert set(questionnaire) == {
        "contacts",
        "optinDescription",
        "triggerDescription",
        "interactionsDescription",
        "optoutDescription",
        "agentAccessInstructions",
        "videoUris",
        "screenshotUris",
    }


def test_launch_body_takes_explicit_regions_in_either_form_once() -> None:
    agent = load_agent_spec(EXAMPLE)
    body = agent.launch_body(["fr-orange", "/v1/regions/fr-orange", "fr-free"])
    details = body["agentLaunch"]["rcsBusinessMessaging"]["launchDetails"]
    assert details == {"/v1/regions/fr-orange": {}, "/v1/regions/fr-free": {}}
    with pytest.raises(ValueError, match="carrier region id"):
        agent.launch_body(["fr orange"])


def test_sections_needed_for_a_body_are_asked_for() -> None:
    agent = spec()
    with pytest.raises(ValueError, match="no `verification`"):
        agent.verification_body()
    with pytest.raises(ValueError, match="no `launch`"):
        agent.launch_body()


def test_minimal_spec_body_leaves_out_absent_channels() -> None:
    body = spec().agent_body()["rcsBusinessMessagingAgent"]
    assert "phoneNumbers" not in body
    assert "websites" not in body
    assert body["emails"] == [{"address": "accueil@example.fr", "label": "Accueil"}]


@pytest.mark.parametrize(
    ("field", "limit"),
    [("brand", 100), ("display_name", DISPLAY_NAME_MAX), ("description", DESCRIPTION_MAX)],
)
def test_text_limits_just_under_and_over(field: str, limit: int) -> None:
    assert getattr(spec(**{field: "é" * limit}), field) == "é" * limit
    (problem,) = problems(**{field: "é" * (limit + 1)})
    assert f": {field}: {limit + 1} characters, the RBM limit is {limit}" in problem


def test_empty_text_is_refused() -> None:
    (problem,) = problems(description="   ")
    assert "description: must not be empty" in problem


@pytest.mark.parametrize("color", ["#0B78D0", "#abcdef", "#000000"])
def test_good_colours(color: str) -> None:
    assert spec(color=color).color == color


@pytest.mark.parametrize("color", ["0B78D0", "#0B78D", "#0B78D0F", "#GGGGGG", "blue"])
def test_bad_colours(color: str) -> None:
    (problem,) = problems(color=color)
    assert "is not a colour written #RRGGBB" in problem


def test_unquoted_colour_gets_a_hint() -> None:
    text = MINIMAL.replace('color: "#0B78D0"', "color: #0B78D0")
    with pytest.raises(SpecError) as caught:
        parse_agent_spec(text, "agent.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("agent.yaml:6:")
    assert "quote the colour" in problem


@pytest.mark.parametrize(
    "uri",
    ["http://example.fr/logo.png", "ftp://example.fr/l.png", "example.fr/logo.png", "https://"],
)
def test_urls_must_be_https(uri: str) -> None:
    (problem,) = problems(logo_uri=uri)
    assert "logo_uri: " in problem
    assert "is not an https:// URL" in problem


def test_websites_at_most_three() -> None:
    sites = [{"uri": f"https://example.fr/{i}", "label": f"Site {i}"} for i in range(4)]
    assert len(spec(websites=sites[:WEBSITES_MAX]).websites) == 3
    (problem,) = problems(websites=sites)
    assert "websites: 4 websites, RBM allows at most 3" in problem


def test_at_least_one_contact_channel() -> None:
    (problem,) = problems(emails=None)
    assert "give at least one of `phones`, `emails`, `websites`" in problem
    assert spec(emails=None, phones=[{"number": "04 65 71 12 34", "label": "Accueil"}])
    assert spec(emails=None, websites=[{"uri": "https://example.fr", "label": "Site"}])


def test_phone_and_email_are_checked() -> None:
    found = problems(
        phones=[{"number": "12", "label": "Accueil"}],
        emails=[{"address": "pas-un-email", "label": "Accueil"}],
    )
    assert len(found) == 2
    assert any("phones[0].number: '12' is not a valid phone number" in p for p in found)
    assert any("emails[0].address: " in p for p in found)


def test_enums_map_to_api_strings() -> None:
    agent = spec(billing_category="non_conversational", use_case="multi_use")
    body = agent.agent_body()["rcsBusinessMessagingAgent"]
    assert body["billingConfig"] == {"billingCategory": BILLING_CATEGORIES["non_conversational"]}
    assert body["agentUseCase"] == "MULTI_USE"
    assert (
        spec(hosting_region="asia_pacific").agent_body()["rcsBusinessMessagingAgent"][
            "hostingRegion"
        ]
        == "ASIA_PACIFIC"
    )
    (problem,) = problems(use_case="marketing")
    assert "use_case: " in problem


def test_strings_stay_strings_whatever_yaml_1_1_says() -> None:
    text = MINIMAL + "testers: [+33465711235]\nverification: ~\n"
    agent = parse_agent_spec(text.replace("label: Accueil}", "label: NO}"))
    assert agent.emails[0].label == "NO"
    assert agent.testers[0].e164 == "+33465711235"
    assert agent.verification is None


def test_five_mistakes_give_five_located_problems() -> None:
    text = """\
brand: Cabinet
display_name: Cabinet
description: Rendez-vous
logo_uri: http://example.fr/logo.png
hero_uri: https://example.fr/hero.png
colour: "#0B78D0"
emails: [{address: accueil@example.fr, label: Accueil}]
websites:
  - {uri: https://example.fr, label: Site}
  - {uri: https://example.fr/rdv}
privacy: {uri: https://example.fr/privacy, label: Confidentialité}
terms: {uri: https://example.fr/terms, label: Conditions}
billing_category: conversational
use_case: transactional
hosting_region: mars
testers: ["+33465711235", "04 65 71 12 35"]
"""
    with pytest.raises(SpecError) as caught:
        parse_agent_spec(text, "cabinet.yaml")
    assert caught.value.problems == [
        "cabinet.yaml:1:1: missing `color`",
        "cabinet.yaml:4:11: logo_uri: `http://example.fr/logo.png` is not an https:// URL"
        " (RBM takes https URLs only, rbm.md §7)",
        "cabinet.yaml:6:1: unknown key `colour` (did you mean `color`?)",
        "cabinet.yaml:10:5: websites[1]: missing `label`",
        "cabinet.yaml:15:17: hosting_region: Input should be 'north_america', 'europe' or"
        " 'asia_pacific'",
        "cabinet.yaml:16:10: testers: +33•••••••35 is listed twice",
    ]
    assert str(caught.value).count("\n") == 5


def test_duplicate_keys_and_syntax_errors_are_located() -> None:
    with pytest.raises(SpecError) as caught:
        parse_agent_spec(MINIMAL + "brand: Autre\n", "a.yaml")
    assert caught.value.problems == ["a.yaml:13:1: brand: duplicate key (first at line 1)"]
    with pytest.raises(SpecError) as caught:
        parse_agent_spec("brand: [unclosed\n", "a.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("a.yaml:2:")
    assert "YAML syntax error" in problem


def test_empty_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"a.yaml:1:1: the file is empty"):
        parse_agent_spec("# nothing\n", "a.yaml")
    with pytest.raises(SpecError, match="cannot read file"):
        load_agent_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match=r"a.yaml:1:1: Input should be a valid dictionary"):
        parse_agent_spec("- brand\n", "a.yaml")


def test_spec_is_frozen() -> None:
    agent = spec()
    with pytest.raises(ValueError, match="frozen"):
        agent.brand = "Autre"  # type: ignore[misc]
