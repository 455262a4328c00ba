"""Answering inbound opt-out keywords: what a STOP, START or HELP changes on the opt-out
list, and the auto-reply it gets.

Decided inside the arrival's transaction (``InboundRouter._plan``) from the settings read
in it, so the list changes with the message that asked for it, and the auto-reply is an
ordinary outbound message queued in the same transaction: the send worker hands it to a
carrier like any other (it is marked with its keyword, so a STOP's own confirmation is
not stopped by the opt-out it confirms).
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec.structs import replace

from trebuchet.server.config import Settings
from trebuchet.server.domain.ids import new_message_id
from trebuchet.server.domain.keywords import Keyword, Keywords, OptOutHandling, OptOutScope
from trebuchet.server.domain.message import Message
from trebuchet.server.domain.segments import segment_count
from trebuchet.server.domain.states import Direction, MessageState
from trebuchet.server.store.messaging_settings import NumberSettings, UserSettings
from trebuchet.server.store.opt_outs import ALL_NUMBERS, OptOutChange


@dataclass(frozen=True)
class KeywordAnswer:
    """An inbound message marked with its keyword, what it changes, what answers it."""

    message: Message
    change: OptOutChange | None = None
    reply: Message | None = None


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())


class KeywordDesk:
    """The keywords and the auto-replies of one deployment (its settings)."""

    def __init__(self, keywords: Keywords, replies: dict[Keyword, str]):
        self._keywords = keywords
        self._replies = replies

    @classmethod
    def from_settings(cls, settings: Settings) -> KeywordDesk:
        keywords = Keywords(
            _words(settings.opt_out_extra_stop_words),
            _words(settings.opt_out_extra_start_words),
            _words(settings.opt_out_extra_help_words),
        )
        replies = {
            Keyword.STOP: settings.opt_out_stop_reply,
            Keyword.START: settings.opt_out_start_reply,
            Keyword.HELP: settings.opt_out_help_reply,
        }
        return cls(keywords, replies)

    def answer(
        self, message: Message, user: UserSettings, number: NumberSettings, now: int
    ) -> KeywordAnswer | None:
        """None unless the text of ``message`` (inbound, no media) is a keyword as a whole."""
        keyword = None if message.media else self._keywords.match(message.text)
        if keyword is None:
            return None
        marked = replace(message, keyword=keyword)
        if number.opt_out_handling == OptOutHandling.APPLICATION:
            return KeywordAnswer(marked)  # the user's application does the rest
        reply = self._reply(marked, keyword, now) if number.auto_replies else None
        return KeywordAnswer(marked, _change(marked, keyword, user.opt_out_scope, now), reply)

    def _reply(self, message: Message, keyword: Keyword, now: int) -> Message:
        text = self._replies[keyword]
        return Message(
            id=new_message_id(now),
            user_id=message.user_id,
            from_number=message.to_number,
            to_number=message.from_number,
            direction=Direction.OUT,
            text=text,
            state=MessageState.QUEUED,
            time_us=now,
            segment_count=segment_count(text),
            due_us=now,
            keyword=keyword,
        )


def _change(
    message: Message, keyword: Keyword, scope: OptOutScope, now: int
) -> OptOutChange | None:
    """STOP lists the sender for the number written to (or every number, user scope);
    START takes the sender off that number's entry (or all of the user's entries)."""
    user_wide = scope == OptOutScope.USER
    if keyword == Keyword.STOP:
        number = ALL_NUMBERS if user_wide else message.to_number
        return OptOutChange(message.user_id, message.from_number, True, number, now_us=now)
    if keyword == Keyword.START:
        numbers = () if user_wide else (message.to_number,)
        return OptOutChange(message.user_id, message.from_number, False, numbers=numbers)
    return None
