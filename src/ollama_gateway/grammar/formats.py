"""String ``format``s that a grammar can enforce exactly, as the text between the quotes.

Each generates only valid values, sometimes a plain subset of them (said here and in
docs/api.md): ``date`` (years 0001-9999, days per month, 29 February in leap years only),
``time`` (RFC 3339 ``HH:MM:SS[.fraction](Z|+HH:MM)``, no leap second), ``date-time``
(``date`` ``T`` ``time``), ``uuid``, ``ipv4`` (no leading zeros), ``ipv6`` (the full
eight-group form), ``hostname``, ``email`` and ``uri`` (``https://`` a host and a path of
unreserved characters). Any other format is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.gbnf import Chars, Expr, Rep, alt, chars, lit, seq

D = chars((0x30, 0x39))
NZ = chars((0x31, 0x39))
HEX = chars((0x30, 0x39), (0x41, 0x46), (0x61, 0x66))
ALNUM = chars((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A))
LDH = chars((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), "-")
ALPHA = chars((0x41, 0x5A), (0x61, 0x7A))


def _c(text: str) -> Chars:
    """A class from a string of single characters and ``a-b`` ranges."""
    pairs: list[tuple[int, int] | str] = []
    i = 0
    while i < len(text):
        if i + 2 < len(text) and text[i + 1] == "-":
            pairs.append((ord(text[i]), ord(text[i + 2])))
            i += 3
        else:
            pairs.append(text[i])
            i += 1
    return chars(*pairs)


def date(g: Grammar) -> Expr:
    year = alt(
        seq(NZ, Rep(D, 3, 3)),
        seq(lit("0"), alt(seq(NZ, D, D), seq(lit("00"), NZ), seq(lit("0"), NZ, D))),
    )
    first = alt(seq(lit("0"), NZ), seq(_c("12"), D))
    long_months = seq(alt(seq(lit("0"), _c("13578")), seq(lit("1"), _c("02"))), lit("-"))
    days31 = seq(long_months, alt(first, seq(lit("3"), _c("01"))))
    days30 = seq(alt(seq(lit("0"), _c("469")), lit("11")), lit("-"), alt(first, lit("30")))
    days28 = seq(lit("02-"), alt(seq(lit("0"), NZ), seq(lit("1"), D), seq(lit("2"), _c("0-8"))))
    leap_tail = alt(seq(lit("0"), _c("48")), seq(_c("2468"), _c("048")), seq(_c("13579"), _c("26")))
    leap = alt(seq(D, D, leap_tail), seq(g.atom("leap-tail", leap_tail), lit("00")))
    month_day = g.atom("month-day", alt(days31, days30, days28))
    body = alt(seq(g.atom("year", year), lit("-"), month_day), seq(leap, lit("-02-29")))
    return g.rule("date", body)


def time(g: Grammar) -> Expr:
    hour = g.atom("hour", alt(seq(_c("01"), D), seq(lit("2"), _c("0-3"))))
    minute = seq(_c("0-5"), D)
    fraction = g.optional("secfrac", seq(lit("."), Rep(D, 1, 9)))
    offset = alt(lit("Z"), seq(_c("+-"), hour, lit(":"), minute))
    body = seq(hour, lit(":"), minute, lit(":"), minute, fraction, g.atom("offset", offset))
    return g.rule("time", body)


def date_time(g: Grammar) -> Expr:
    return g.rule("date-time", seq(date(g), lit("T"), time(g)))


def uuid(g: Grammar) -> Expr:
    groups = [Rep(HEX, n, n) for n in (8, 4, 4, 4, 12)]
    return g.rule("uuid", seq(groups[0], *(seq(lit("-"), grp) for grp in groups[1:])))


def ipv4(g: Grammar) -> Expr:
    octet = g.atom(
        "octet",
        alt(
            seq(lit("25"), _c("0-5")),
            seq(lit("2"), _c("0-4"), D),
            seq(lit("1"), D, D),
            seq(NZ, D),
            D,
        ),
    )
    return g.rule("ipv4", seq(octet, g.repeat("octet-more", seq(lit("."), octet), 3, 3)))


def ipv6(g: Grammar) -> Expr:
    group = Rep(HEX, 1, 4)
    return g.rule("ipv6", seq(group, g.repeat("ipv6-more", seq(lit(":"), group), 7, 7)))


def _label(g: Grammar, first: Expr) -> Expr:
    return g.atom("label", seq(first, g.optional("label-rest", seq(Rep(LDH, 0, 30), ALNUM))))


def hostname(g: Grammar) -> Expr:
    labels = g.repeat("labels", seq(_label(g, ALNUM), lit(".")), 0, 3)
    return g.rule("hostname", seq(labels, _label(g, ALPHA)))


def email(g: Grammar) -> Expr:
    atom = Rep(_c("A-Za-z0-9_+-"), 1, 32)
    local = seq(atom, g.repeat("local-more", seq(lit("."), atom), 0, 2))
    domain = seq(g.repeat("labels", seq(_label(g, ALNUM), lit(".")), 1, 3), Rep(ALPHA, 2, 12))
    return g.rule("email", seq(local, lit("@"), domain))


def uri(g: Grammar) -> Expr:
    segment = seq(lit("/"), Rep(_c("A-Za-z0-9._~-"), 1, 32))
    path = g.repeat("segments", segment, 0, 8)
    return g.rule("uri", seq(lit("https://"), hostname(g), path))


FORMATS: dict[str, Callable[[Grammar], Expr]] = {
    "date": date,
    "time": time,
    "date-time": date_time,
    "uuid": uuid,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "hostname": hostname,
    "email": email,
    "uri": uri,
}
