"""R28: links in messages (compliance/urls.py, sms.md §3.7)."""

from __future__ import annotations

import pytest

from compliance.urls import PUBLIC_SHORTENERS, SMS_MD_SHORTENERS, UrlPolicy, find_urls

POLICY = UrlPolicy()
ALLOW = UrlPolicy(allowed_domains=frozenset({"exemple.fr", "société.fr"}))


class TestFindUrls:
    @pytest.mark.parametrize(
        ("text", "urls"),
        [
            ("Voir https://exemple.fr/promo.", ["https://exemple.fr/promo"]),
            ("HTTPS://EXEMPLE.FR/X et http://a.fr", ["HTTPS://EXEMPLE.FR/X", "http://a.fr"]),
            ("promo sur bit.ly/abc!", ["bit.ly/abc"]),
            ("BIT.LY/ABC", ["BIT.LY/ABC"]),
            ("www.exemple.fr, à bientôt", ["www.exemple.fr"]),
            ("(voir exemple.fr)", ["exemple.fr"]),
            ("exemple.fr:8080/x?y=1#z", ["exemple.fr:8080/x?y=1#z"]),
            (
                "https://fr.wikipedia.org/wiki/Lyon_(ville)",
                ["https://fr.wikipedia.org/wiki/Lyon_(ville)"],
            ),
            ("va sur 192.0.2.1/x", ["192.0.2.1/x"]),
            ("http://[2001:db8::1]:8443/a", ["http://[2001:db8::1]:8443/a"]),
            ("https://société.fr/x", ["https://société.fr/x"]),
            ("xn--socit-esab.fr", ["xn--socit-esab.fr"]),
            ("«https://exemple.fr»", ["https://exemple.fr"]),
            ("voirhttps://bit.ly/x", ["https://bit.ly/x"]),
        ],
    )
    def test_links_r28(self, text: str, urls: list[str]) -> None:
        assert find_urls(text) == urls

    @pytest.mark.parametrize(
        "text",
        [
            "Bonjour, votre RDV est confirmé.",
            "M.Dupont vous attend",  # two sentences glued: capitalised, not a domain
            "RDV 14h.Merci",
            "écrivez à contact@exemple.fr",
            "version v1.2.3.4",
            "prix 3.50€, 2.5km, le 12.03.2026",
            "999.1.1.1",
            "https://",
            "",
        ],
    )
    def test_not_links(self, text: str) -> None:
        assert find_urls(text) == []


class TestPolicy:
    def test_text_without_links_has_no_problem(self) -> None:
        assert POLICY.problems("Votre colis arrive demain. STOP au 36034") == []

    def test_own_domain_passes(self) -> None:
        assert POLICY.problems("https://www.exemple.fr/promo") == []

    def test_smsmode_shortener_is_not_public(self) -> None:
        assert "sms.bo" not in PUBLIC_SHORTENERS
        assert POLICY.problems("https://sms.bo/Ab12") == []

    def test_sms_md_shorteners_are_refused(self) -> None:
        assert {"bit.ly", "tinyurl.com", "cutt.ly", "lc.cx"} <= SMS_MD_SHORTENERS
        for domain in SMS_MD_SHORTENERS:
            assert len(POLICY.problems(f"https://{domain}/abc")) == 1

    @pytest.mark.parametrize(
        "text",
        [
            "https://bit.ly/abc",
            "HTTPS://BIT.LY/ABC",
            "Bit.ly/abc",
            "https://go.bit.ly/abc",  # subdomain of a shortener
            "https://bit.ly./abc",  # trailing dot: the same host
            "https://ｂｉｔ.ｌｙ/abc",  # fullwidth letters: the same host once normalised
            "tinyurl.com/xyz",
        ],
    )
    def test_shorteners_are_refused_r28(self, text: str) -> None:
        problems = POLICY.problems(text)
        assert len(problems) == 1
        assert "public link shortener" in problems[0]
        assert "(R28)" in problems[0]
        assert text.split()[0] in problems[0]  # names the URL

    @pytest.mark.parametrize(
        "text",
        [
            "http://192.168.0.1/x",
            "https://192.168.0.1:8443/x",
            "10.0.0.1/login",
            "http://[2001:db8::1]/a",
            "http://[::ffff:192.0.2.1]:80/",
            "http://3232235777/",  # 192.168.1.1 as one number
            "http://0x7f.1/",  # hex and short forms browsers accept
        ],
    )
    def test_raw_ip_addresses_are_refused_r28(self, text: str) -> None:
        problems = POLICY.problems(text)
        assert len(problems) == 1
        assert "raw IP address" in problems[0]
        assert "(R28)" in problems[0]

    def test_allow_list_with_subdomains_r28(self) -> None:
        assert ALLOW.problems("https://exemple.fr https://promo.exemple.fr/x EXEMPLE.FR") == []
        problems = ALLOW.problems("https://exemple.com/x and https://fauxexemple.fr")
        assert len(problems) == 2
        assert "exemple.com is not one of the allowed domains" in problems[0]
        assert "fauxexemple.fr is not one" in problems[1]

    def test_allow_list_reads_idn_in_either_form(self) -> None:
        assert ALLOW.problems("https://société.fr/x https://xn--socit-esab.fr/y") == []
        by_punycode = UrlPolicy(allowed_domains=frozenset({"xn--socit-esab.fr"}))
        assert by_punycode.problems("https://Société.fr/x") == []

    def test_user_info_does_not_disguise_the_host(self) -> None:
        problems = ALLOW.problems("http://exemple.fr@evil.example/x")
        assert len(problems) == 1
        assert "evil.example" in problems[0]

    def test_port_is_ignored_for_the_domain(self) -> None:
        assert ALLOW.problems("https://exemple.fr:8443/x") == []

    def test_an_unreadable_host_is_refused(self) -> None:
        problems = POLICY.problems("http://a..b.fr/x")
        assert len(problems) == 1
        assert "cannot be read" in problems[0]
        assert POLICY.problem("http://[zz]/") is not None

    def test_one_problem_per_distinct_link(self) -> None:
        assert len(POLICY.problems("bit.ly/a bit.ly/a bit.ly/b")) == 2

    def test_lists_are_normalised(self) -> None:
        policy = UrlPolicy(shorteners=frozenset({"EXAMPLE.COM."}))
        assert len(policy.problems("https://www.example.com/")) == 1

    def test_an_invalid_list_entry_is_refused(self) -> None:
        with pytest.raises(ValueError, match="allowed_domains"):
            UrlPolicy(allowed_domains=frozenset({""}))
