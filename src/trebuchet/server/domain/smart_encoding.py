"""Smart encoding: characters that force UCS-2 but have a GSM-7 look-alike are replaced
before a text is segmented, so one curly quote does not triple the segments.

The replacement is a choice the sender makes (``smartEncoding`` on a message, or the
user's default).  It never touches a text that is GSM-7 already, and it is given up
when it would raise the segment count, or change the text and leave it UCS-2 without
lowering it (a text that stays UCS-2 because of another character, where ``…`` → ``...``
only adds code units).
"""

from __future__ import annotations

from trebuchet.server.domain.segments import gsm7_septets, segment_count

# What each look-alike becomes; every replacement is GSM-7 (basic or extension table).
_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_LOOK_ALIKES: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\u00b4\u0060", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "-"),
    **dict.fromkeys(_SPACES + "\u202f\u205f\u3000\t", " "),
    # Zero-width characters carry nothing a reader sees.
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    **dict.fromkeys("\u2028\u2029", "\n"),
    "\u2026": "...",
    "\u2039": "<",
    "\u203a": ">",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u2022": "-",
    "\u00b7": ".",
}
LOOK_ALIKES = frozenset(_LOOK_ALIKES)
_TABLE = str.maketrans(_LOOK_ALIKES)


def smart_encode(text: str, *, is_mms: bool = False) -> str:
    """``text`` with GSM-7 look-alikes in place of the characters that force UCS-2, or
    ``text`` itself when it is GSM-7 already, is an MMS, or replacing would not make it
    GSM-7 without more segments nor lower its segment count."""
    if is_mms or gsm7_septets(text) is not None:
        return text
    replaced = text.translate(_TABLE)
    before, after = segment_count(text), segment_count(replaced)
    if after < before or (after == before and gsm7_septets(replaced) is not None):
        return replaced
    return text
