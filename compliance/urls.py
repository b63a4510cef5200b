"""R28: links in messages, checked before operators' smishing filters see them (sms.md §3.7).

What `find_urls` counts as a link, i.e. what a phone is likely to make clickable:

- `http://` or `https://` (any case) followed by anything up to a space, `<`, `>` or a quote;
- a bare domain, `www.` or not, with an optional port and path: `bit.ly/abc`,
  `www.exemple.fr`, `exemple.fr:8080/x`. Its last label must be letters (2 to 63) or punycode
  (`xn--...`), written all lowercase or all uppercase: `Voir.Merci` and `M.Dupont`, a sentence
  run into the next one, are not links, while `bit.ly` and `BIT.LY` are;
- a bare dotted IPv4 address (`192.0.2.1/x`). A bare IPv6 address is not recognised: written
  outside a URL's brackets it is not clickable either.

Not counted: e-mail addresses (`contact@exemple.fr`), and a domain glued to a word or a dot
before it. Punctuation ending a sentence (`.`, `,`, `!`, `)` without its `(`...) is not part
of the link.

`UrlPolicy` then refuses, for each link: a host that cannot be read; a raw IP address (dotted,
bracketed IPv6, or the numeric and hex forms browsers also accept, e.g. `http://3232235777/`);
a public shortener or any subdomain of one; and, when `allowed_domains` is set, any host
outside them and their subdomains. Hosts are compared in their ASCII (punycode) form, lowercase,
without a trailing dot, so `BIT.LY.`, `ｂｉｔ.ｌｙ` or `société.fr` written either way cannot
slip past a list. Internationalised domains are otherwise accepted: an allow-list is the
defence against look-alike domains.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

SMS_MD_SHORTENERS: Final = frozenset(
    {"tinyurl.com", "bit.ly", "urlz.fr", "pxlme.me", "lc.cx", "cutt.ly"}
)
"""The public shorteners sms.md §3.7 names (TinyURL, Bitly, URLz, PixelMe, LC.CX, Cuttly).
Switchy is named too, but not its short domain: add it in configuration once known."""

OTHER_SHORTENERS: Final = frozenset(
    {
        "bitly.com", "j.mp", "pixelme.me", "tiny.cc", "is.gd", "v.gd", "ow.ly", "buff.ly",
        "rebrand.ly", "shorturl.at", "t.ly", "rb.gy", "goo.gl", "bit.do", "t.co",
    }
)  # fmt: skip
"""Other well-known public shorteners: the same smishing risk (sms.md's list is
"non-exhaustive"). smsmode's own shortener, `sms.bo`, is deliberately absent."""

PUBLIC_SHORTENERS: Final = SMS_MD_SHORTENERS | OTHER_SHORTENERS

_STOP_CHARS: Final = r"\s<>\"«»“”"
_TRAILING: Final = ".,;:!?'’\")]}"
_LINK: Final = re.compile(
    rf"(?P<scheme>https?://[^{_STOP_CHARS}]+)"
    r"|(?<![\w@.\-/:])(?P<bare>(?:[^\W_][\w-]{0,62}\.)+"
    r"(?P<tld>xn--[a-z0-9-]{1,59}|[^\W\d_]{2,63})(?![\w-])"
    rf"(?::\d{{1,5}})?(?:[/?#][^{_STOP_CHARS}]*)?)"
    r"|(?<![\w.])(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\w)"
    rf"(?::\d{{1,5}})?(?:[/?#][^{_STOP_CHARS}]*)?",
    re.IGNORECASE,
)
_SCHEME: Final = re.compile(r"https?://", re.IGNORECASE)
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")


def find_urls(text: str) -> list[str]:
    """The links in `text`, as written, in order of appearance (see the module docstring for
    what counts). Never raises on a `str`."""
    found = []
    for match in _LINK.finditer(text):
        tld = match["tld"]
        if tld is not None and not (tld.islower() or tld.isupper()):
            continue  # `M.Dupont`: two sentences glued together, not a link
        if match["ip"] is not None and any(int(n) > 255 for n in match["ip"].split(".")):
            continue  # a version number or a date, not an address
        url = _trim(match[0])
        if _raw_host(url):
            found.append(url)
    return found


@dataclass(frozen=True)
class UrlPolicy:
    """Which links a templated message may carry (R28)."""

    shorteners: frozenset[str] = PUBLIC_SHORTENERS
    """Refused, with all their subdomains."""
    allowed_domains: frozenset[str] = frozenset()
    """When non-empty, the only domains allowed (with their subdomains)."""

    def __post_init__(self) -> None:
        # Compare like with like: lists in the same ASCII lowercase form as hosts.
        for name in ("shorteners", "allowed_domains"):
            domains: frozenset[str] = getattr(self, name)
            normalised = set()
            for domain in domains:
                ascii_domain = _ascii(domain.strip())
                if not ascii_domain:
                    raise ValueError(f"{name}: {domain!r} is not a domain name")
                normalised.add(ascii_domain)
            object.__setattr__(self, name, frozenset(normalised))

    def problems(self, text: str) -> list[str]:
        """One sentence per refused link of `text`, naming it and the rule; empty when every
        link may go. Never raises on a `str`."""
        found = (self.problem(url) for url in find_urls(text))
        return list(dict.fromkeys(p for p in found if p))

    def problem(self, url: str) -> str | None:
        """Why the link `url` is refused (R28), or None."""
        shown = _shown(url)
        raw = _raw_host(url)
        if _is_ip(raw):
            return (
                f"`{shown}` points to a raw IP address, not a domain name: operators block "
                "such links as smishing (R28)"
            )
        host = _ascii(raw)
        if host is None:
            return f"`{shown}` has a host that cannot be read as a domain name (R28)"
        shortener = _matching(host, self.shorteners)
        if shortener:
            return (
                f"`{shown}` goes through the public link shortener {shortener}, which operators "
                "block as a smishing risk (R28): link to your own domain"
            )
        if self.allowed_domains and not _matching(host, self.allowed_domains):
            allowed = ", ".join(sorted(self.allowed_domains))
            return f"`{shown}`: {host} is not one of the allowed domains ({allowed}) (R28)"
        return None


def _trim(url: str) -> str:
    """`url` without the punctuation of the sentence around it; a `)` stays when the link
    opened one (`https://fr.wikipedia.org/wiki/Lyon_(ville)`)."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _raw_host(url: str) -> str:
    """The host part of a link as written, lowercase, without scheme, user, port or final dot.

    An IPv6 host keeps its brackets. `http://bit.ly@evil.example` has the host evil.example:
    what comes before `@` is a user name, a classic way to disguise a link.
    """
    scheme = _SCHEME.match(url)
    rest = url[scheme.end() :] if scheme else url
    authority = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0].rstrip(".").lower()


def _is_ip(host: str) -> bool:
    """Whether a host (as `_raw_host` gives it) is an IP address: a valid bracketed IPv6, or
    an IPv4 in any form."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host.strip("[]").partition("%")[0])
        except ValueError:
            return False  # unreadable: `_ascii` refuses it next
        return True
    return _looks_numeric(host)


def _looks_numeric(host: str) -> bool:
    """Whether a host is an IPv4 address in any form a browser accepts (dotted, one decimal or
    hex number...): per the WHATWG URL standard, a host whose last label is a number."""
    return bool(_NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]))


def _ascii(host: str) -> str | None:
    """`host` in ASCII (punycode for non-ASCII labels), lowercase, or None when it is not a
    valid domain name (empty label, label too long, forbidden character)."""
    host = host.rstrip(".").lower()
    if not host:
        return None
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if "[" in ascii_host or _looks_numeric(ascii_host):
        return None
    return ascii_host


def _matching(host: str, domains: frozenset[str]) -> str | None:
    """The domain of `domains` that `host` is or is a subdomain of, if any."""
    labels = host.split(".")
    for start in range(len(labels)):
        candidate = ".".join(labels[start:])
        if candidate in domains:
            return candidate
    return None


def _shown(url: str, limit: int = 60) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
