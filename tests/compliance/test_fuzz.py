"""Nothing in compliance/ raises on text from outside: inbound messages, contact lists and
templates are written by people (R5, R6, R25, R28, R30)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.gate import Block, GatePolicy, Hold, Outgoing, Send, decide
from compliance.keywords import Keywords
from compliance.recipients import dedupe
from compliance.urls import UrlPolicy, find_urls

KEYWORDS = Keywords()
POLICY = UrlPolicy()
ALLOW = UrlPolicy(allowed_domains=frozenset({"exemple.fr"}))
GATE = GatePolicy(urls=ALLOW)

# Any code point but surrogates (hypothesis' default), weighted towards the characters that
# make URL and keyword parsing interesting.
ANY_TEXT = st.text(max_size=400)
URLISH = st.text(
    alphabet=st.sampled_from(list("abcXY09.-_/:@[]()%#?!&=~ ,\n\téç’😀\x00\u200bxn-")), max_size=200
)
ANY = st.one_of(ANY_TEXT, URLISH, st.builds(lambda a, b: f"{a} https://{b}", ANY_TEXT, URLISH))
INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(ANY)
def test_classify_never_raises(text: str) -> None:
    assert KEYWORDS.classify(text) in ("stop", "start", None)


@given(ANY)
def test_find_urls_never_raises(text: str) -> None:
    for url in find_urls(text):
        assert url
        assert url in text


@given(ANY)
def test_url_problems_never_raise(text: str) -> None:
    for policy in (POLICY, ALLOW):
        for problem in policy.problems(text):
            assert "(R28)" in problem


@given(st.lists(ANY, max_size=20))
def test_dedupe_never_raises(raw: list[str]) -> None:
    result = dedupe(raw)
    assert len(result.phones) + result.merged + len(result.invalid) == len(raw)
    assert len(set(result.phones)) == len(result.phones)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    text=ANY,
    phone=ANY_TEXT,
    traffic=st.sampled_from(["marketing", "transactional"]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    consent=st.sampled_from([True, False, None]),
    now=INSTANTS,
)
def test_decide_never_raises(
    text: str,
    phone: str,
    traffic: str,
    flags: tuple[bool, bool, bool, bool],
    consent: bool | None,
    now: datetime,
) -> None:
    templated, started, opted_out, red_listed = flags
    message = Outgoing(
        traffic="marketing" if traffic == "marketing" else "transactional",
        phone=phone,
        text=text,
        now=now,
        templated=templated,
        recipient_started=started,
        opted_out=opted_out,
        red_listed=red_listed,
        consent=consent,
    )
    decision = decide(message, GATE)
    assert isinstance(decision, Send | Hold | Block)
    if isinstance(decision, Hold):
        assert decision.until > now


def test_huge_and_hostile_texts() -> None:
    samples = [
        "a" * 1_000_000,
        "a." * 200_000,
        "http://" + "a" * 200_000,
        ("bit.ly/x " * 50_000),
        "1.2.3." * 100_000,
        "\u0301" * 100_000 + "stop",
        "\x00\x01\x1b\x7f" * 10_000,
        "https://[" + ":" * 10_000,
        "xn--" + "-" * 10_000 + ".fr",
    ]
    for text in samples:
        KEYWORDS.classify(text)
        find_urls(text)
        ALLOW.problems(text)
        dedupe([text])
        decide(Outgoing("marketing", text, text, datetime(2026, 3, 7, 23, tzinfo=UTC)), GATE)
