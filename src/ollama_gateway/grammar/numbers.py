"""Integers and numbers, with ``minimum`` / ``maximum`` enforced digit by digit.

What is generated: no exponent, at most ``INT_DIGITS`` digits before the point and
``FRAC_DIGITS`` after it (more when a bound needs them). Bounds are compared exactly, in
decimal: an inclusive float bound ``f`` becomes the shortest decimal that reads back as ``f``
(so a number at or past it reads back at or past ``f``), and an exclusive one becomes the next
float beyond it, inclusive. Integers are exact integers.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.gbnf import EMPTY, NEVER, Expr, Rep, alt, chars, lit, seq

INT_DIGITS = 15
FRAC_DIGITS = 15
MAX_FRAC_DIGITS = 24  # a bound that needs more is refused
CAP = 10**INT_DIGITS - 1


class BoundError(ValueError):
    """A bound cannot be enforced within the digits generated."""


def _d(lo: str, hi: str) -> Expr:
    return chars((ord(lo), ord(hi)))


DIGIT = chars((0x30, 0x39))


def _digits(g: Grammar, lo: int, hi: int) -> Expr:
    """lo to hi digits, as a shared rule."""
    if hi <= 0:
        return EMPTY
    return DIGIT if (lo, hi) == (1, 1) else g.rule("digits", Rep(DIGIT, lo, hi))


# -- integers -------------------------------------------------------------------------------


def _same_length(g: Grammar, a: str, b: str) -> Expr:
    """Digit strings of len(a) == len(b) between a and b."""
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    prefix, a, b = a[:i], a[i:], b[i:]
    if not a:
        return lit(prefix)
    if len(a) == 1:
        return seq(lit(prefix), _d(a, b))
    rest = len(a) - 1
    low_full, high_full = a[1:] == "0" * rest, b[1:] == "9" * rest
    start = a[0] if low_full else chr(ord(a[0]) + 1)
    end = b[0] if high_full else chr(ord(b[0]) - 1)
    options = []
    if not low_full:
        options.append(seq(lit(a[0]), _same_length(g, a[1:], "9" * rest)))
    if start <= end:
        options.append(seq(_d(start, end), _digits(g, rest, rest)))
    if not high_full:
        options.append(seq(lit(b[0]), _same_length(g, "0" * rest, b[1:])))
    return seq(lit(prefix), g.atom("int-part", alt(*options)))


def natural_range(g: Grammar, lo: int, hi: int) -> Expr:
    """Integers lo..hi (0 <= lo), without leading zeros."""
    if lo > hi:
        return NEVER
    options: list[Expr] = []
    full: list[int] = []  # lengths covered completely, merged into one [1-9][0-9]{m,n}
    for n in range(len(str(lo)), len(str(hi)) + 1):
        a, b = max(lo, 10 ** (n - 1) if n > 1 else 0), min(hi, 10**n - 1)
        if n > 1 and (a, b) == (10 ** (n - 1), 10**n - 1):
            full.append(n)
        elif a <= b:
            options.append(_same_length(g, str(a), str(b)))
    if full:
        options.append(seq(_d("1", "9"), _digits(g, full[0] - 1, full[-1] - 1)))
    return alt(*options)


def integer(g: Grammar, lo: int | None, hi: int | None) -> Expr:
    """Integers in [lo, hi] (None: unbounded, up to INT_DIGITS digits)."""
    if (lo is not None and lo > CAP) or (hi is not None and hi < -CAP):
        raise BoundError(f"beyond the {INT_DIGITS} digits generated")
    lo = -CAP if lo is None else max(lo, -CAP)
    hi = CAP if hi is None else min(hi, CAP)
    options = []
    if lo < 0:
        options.append(seq(lit("-"), natural_range(g, max(1, -hi), -lo)))
    if hi >= 0:
        options.append(natural_range(g, max(0, lo), hi))
    return g.rule("integer" if (lo, hi) == (-CAP, CAP) else "int-range", alt(*options))


def integer_bounds(
    minimum: Fraction | None, maximum: Fraction | None, ex_min: bool, ex_max: bool
) -> tuple[int | None, int | None]:
    lo = hi = None
    if minimum is not None:
        lo = math.floor(minimum) + 1 if ex_min else math.ceil(minimum)
    if maximum is not None:
        hi = math.ceil(maximum) - 1 if ex_max else math.floor(maximum)
    return lo, hi


# -- decimal numbers ------------------------------------------------------------------------


def decimal_bound(value: int | float, exclusive: bool, upward: bool) -> Decimal:
    """The inclusive decimal bound that enforces ``value`` (see the module docstring).

    Next to zero the next float has hundreds of decimal places; there the bound moves by one
    unit of the last generated place instead, which is far more than the float's spacing.
    """
    if isinstance(value, int) and not exclusive:
        return Decimal(value)
    f = float(value)
    if isinstance(value, int) and f != value:
        raise BoundError("an integer bound too large to compare as a float")
    if not exclusive:
        return Decimal(repr(f))
    bound = Decimal(repr(math.nextafter(f, math.inf if upward else -math.inf)))
    # finite here, so the exponent is an int (typeshed allows "n"/"N"/"F" for NaN/Inf)
    if -bound.as_tuple().exponent <= MAX_FRAC_DIGITS:  # type: ignore[operator]
        return bound
    step = Decimal(1).scaleb(-FRAC_DIGITS)
    moved = Decimal(repr(f)) + (step if upward else -step)
    return moved.quantize(step, rounding=ROUND_CEILING if upward else ROUND_FLOOR)


def _split(d: Decimal) -> tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits without trailing zeros)."""
    text = format(d, "f")
    whole, _, frac = text.partition(".")
    return int(whole), frac.rstrip("0")


class _Fractions:
    """Fraction digit strings F (after the point) compared with a bound's digits."""

    def __init__(self, g: Grammar, size: int) -> None:
        self.g = g
        self.size = size

    def tail(self, used: int) -> Expr:
        return _digits(self.g, 0, self.size - used)

    def any(self) -> Expr:
        """An optional fraction."""
        return self.g.optional("frac", seq(lit("."), _digits(self.g, 1, self.size)))

    def at_least(self, b: str) -> Expr:
        if not b:
            return self.any()
        return seq(lit("."), self._ge(b, 0))

    def _ge(self, b: str, used: int) -> Expr:
        """Non-empty digits D with 0.D >= 0.b (b non-empty, no trailing zeros)."""
        options = []
        if b[0] != "9":
            options.append(seq(_d(chr(ord(b[0]) + 1), "9"), self.tail(used + 1)))
        rest = self._ge(b[1:], used + 1) if len(b) > 1 else self.tail(used + 1)
        options.append(seq(lit(b[0]), rest))
        return self.g.atom("frac-ge", alt(*options))

    def at_most(self, b: str) -> Expr:
        if not b:
            return EMPTY
        return self.g.optional("frac-le", seq(lit("."), self._le(b, 0)))

    def _le(self, b: str, used: int) -> Expr:
        """Non-empty digits D with 0.D <= 0.b (b non-empty, no trailing zeros)."""
        options = []
        if b[0] != "0":
            options.append(seq(_d("0", chr(ord(b[0]) - 1)), self.tail(used + 1)))
        rest = self.g.optional("frac-le", self._le(b[1:], used + 1)) if len(b) > 1 else EMPTY
        options.append(seq(lit(b[0]), rest))
        return self.g.atom("frac-le", alt(*options))

    def between(self, a: str, b: str) -> Expr:
        if not a:
            return self.at_most(b)
        return seq(lit("."), self._between(a, b, 0))

    def _between(self, a: str, b: str, used: int) -> Expr:
        """Non-empty D with 0.a <= 0.D <= 0.b (a non-empty, a <= b)."""
        if a[0] == b[0]:
            if len(a) == 1:
                rest = self.g.optional("frac-le", self._le(b[1:], used + 1)) if b[1:] else EMPTY
            else:
                rest = self._between(a[1:], b[1:], used + 1)
            return seq(lit(a[0]), rest)
        low = self._ge(a[1:], used + 1) if len(a) > 1 else self.tail(used + 1)
        options = [seq(lit(a[0]), low)]
        if ord(b[0]) - ord(a[0]) > 1:
            options.append(seq(_d(chr(ord(a[0]) + 1), chr(ord(b[0]) - 1)), self.tail(used + 1)))
        high = self.g.optional("frac-le", self._le(b[1:], used + 1)) if b[1:] else EMPTY
        options.append(seq(lit(b[0]), high))
        return self.g.atom("frac-in", alt(*options))


def _magnitude(g: Grammar, low: Decimal, high: Decimal | None) -> Expr:
    """Non-negative decimals in [low, high] (high None: up to CAP and any fraction)."""
    li, lf = _split(low)
    hi_int, hf = _split(high) if high is not None else (CAP, "")
    if li > CAP:
        raise BoundError(f"beyond the {INT_DIGITS} digits generated")
    if hi_int > CAP:
        high, hi_int, hf = None, CAP, ""
    size = max(FRAC_DIGITS, len(lf), len(hf))
    if size > MAX_FRAC_DIGITS:
        raise BoundError(f"needs more than {MAX_FRAC_DIGITS} decimal places")
    f = _Fractions(g, size)
    if high is not None and li == hi_int:
        return seq(lit(str(li)), f.between(lf, hf))
    options = [seq(lit(str(li)), f.at_least(lf))]
    top = hi_int if high is None else hi_int - 1
    if li + 1 <= top:
        options.append(seq(natural_range(g, li + 1, top), f.any()))
    if high is not None:
        options.append(seq(lit(str(hi_int)), f.at_most(hf)))
    return alt(*options)


def number(g: Grammar, lo: Decimal | None, hi: Decimal | None) -> Expr:
    """Decimal numbers in [lo, hi], both inclusive (None: unbounded)."""
    if lo is None and hi is None:
        fraction = _Fractions(g, FRAC_DIGITS).any()
        body = seq(g.optional("minus", lit("-")), natural_range(g, 0, CAP), fraction)
        return g.rule("number", body)
    if lo is not None and hi is not None and lo > hi:
        return NEVER
    options = []
    if hi is None or hi >= 0:
        options.append(_magnitude(g, max(lo, Decimal(0)) if lo is not None else Decimal(0), hi))
    if lo is None or lo < 0:
        low = max(-hi, Decimal(0)) if hi is not None else Decimal(0)
        options.append(seq(lit("-"), _magnitude(g, low, -lo if lo is not None else None)))
    return g.rule("num-range", alt(*options))
