"""Opt-out keywords: an inbound text that is, as a whole, STOP, START or HELP (or one of
their synonyms and the configured extras), compared without case and surrounding space.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Keyword(StrEnum):
    """What an inbound keyword asks for; also marks the auto-reply that answers it."""

    STOP = "stop"  # put the sender on the opt-out list
    START = "start"  # take the sender off it
    HELP = "help"  # answer with the help text


class OptOutScope(StrEnum):
    """Which sends a STOP blocks: those from the number written to, or from any of the
    user's numbers."""

    NUMBER = "number"
    USER = "user"


class OptOutHandling(StrEnum):
    """Who handles opt-outs for a number: the platform (list, blocking, auto-replies) or
    the user's own application (keywords are only marked)."""

    PLATFORM = "platform"
    APPLICATION = "application"


STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
START_WORDS = ("START", "UNSTOP", "YES")
HELP_WORDS = ("HELP", "INFO")


def normalized(text: str) -> str:
    """The form keywords are compared in: no surrounding whitespace, case folded."""
    return text.strip().casefold()


@dataclass(frozen=True)
class Keywords:
    """The words of each keyword, built once from the settings' extras."""

    extra_stop: Iterable[str] = ()
    extra_start: Iterable[str] = ()
    extra_help: Iterable[str] = ()
    _words: dict[str, Keyword] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words: dict[str, Keyword] = {}
        for keyword, base, extra in (
            (Keyword.HELP, HELP_WORDS, self.extra_help),
            (Keyword.START, START_WORDS, self.extra_start),
            (Keyword.STOP, STOP_WORDS, self.extra_stop),
        ):
            for word in (*base, *extra):
                if normalized(word):
                    words[normalized(word)] = keyword
        object.__setattr__(self, "_words", words)

    def match(self, text: str) -> Keyword | None:
        """The keyword ``text`` is as a whole, or None."""
        return self._words.get(normalized(text))
