"""The parts of an MMS as they travel from the sender's media to a carrier (and, in the
sandbox, into the recipient's media), and how a received part is named."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trebuchet.server.media.types import extension_for, extension_of

_PART_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_PART_NAME = 64


@dataclass(frozen=True)
class MediaPart:
    """One fetched part: where it came from, its own name, an allowed type, the bytes."""

    url: str
    name: str
    content_type: str
    content: bytes


def part_name(part: MediaPart, message_id: str, index: int) -> str:
    """``<part-name>-<messageId>.<ext>`` (spec §5.3.4), e.g. ``cat-m-abc….jpg``."""
    last = part.name.rsplit("/", 1)[-1]
    extension = extension_of(last)
    stem = last[: -len(extension)] if extension else last
    stem = _PART_CHARS.sub("_", stem).strip("._")[:MAX_PART_NAME] or f"part{index + 1}"
    return f"{stem}-{message_id}{extension_for(part.content_type, last)}"
