"""Content types: parsing ``Content-Type`` values and the MMS allow-list (spec §5.3.3).

The type of an MMS part comes from its ``Content-Type``.  Only when that says nothing
(absent, or ``application/octet-stream``, the default of both official SDKs' uploads) is
the file extension consulted, and only when it names exactly one allowed type.
"""

from __future__ import annotations

import re

OCTET_STREAM = "application/octet-stream"
MAX_CONTENT_TYPE_LENGTH = 255
# RFC 9110 token characters, for the type and subtype.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE = re.compile(rf"^(?P<type>{_TOKEN})/(?P<subtype>{_TOKEN})\s*(?P<params>;.*)?$")

# Supported MMS types and their extensions, in the spec's order (first = preferred).
MMS_TYPES: dict[str, tuple[str, ...]] = {
    "application/json": (".json",),
    "application/ogg": (".ogx", ".ogv", ".oga", ".ogg"),
    "application/pdf": (".pdf",),
    "application/rtf": (".rtf",),
    "application/zip": (".zip",),
    "application/x-tar": (".tar",),
    "application/xml": (".xml",),
    "application/gzip": (".gz",),
    "application/x-gzip": (".gz",),
    "application/x-bzip2": (".bz2",),
    "application/smil": (".smil",),
    "application/javascript": (".js",),
    "audio/mp4": (".m4a", ".m4p", ".m4b", ".m4r"),
    "audio/mpeg": (".mp3", ".mp1", ".mp2", ".m1a", ".m2a", ".mpa"),
    "audio/ogg": (".oga",),
    "audio/flac": (".flac",),
    "audio/webm": (".webm",),
    "audio/wav": (".wav",),
    "audio/amr": (".amr", ".3ga"),
    "audio/3gpp": (".3gp",),
    "image/bmp": (".bmp", ".dib"),
    "image/gif": (".gif",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/pjpeg": (".pjpeg",),
    "image/png": (".png",),
    "image/svg+xml": (".svg",),
    "image/tiff": (".tiff", ".tif"),
    "image/webp": (".webp",),
    "image/x-icon": (".ico",),
    "text/css": (".css",),
    "text/csv": (".csv",),
    "text/html": (".html",),
    "text/calendar": (".cal",),
    "text/plain": (".txt",),
    "text/javascript": (".js",),
    "text/vcard": (".vcf", ".vcard"),
    "text/vnd.wap.wml": (".wap",),
    "text/xml": (".xml",),
    "video/avi": (".avi",),
    "video/mp4": (".mp4", ".m4v"),
    "video/mpeg": (".mpg", ".mpeg", ".m1v", ".mpv"),
    "video/ogg": (".ogv", ".ogx", ".ogg", ".spx", ".ogm"),
    "video/quicktime": (".mov", ".qt"),
    "video/webm": (".webm",),
    "video/x-ms-wmv": (".wmv",),
    "video/x-flv": (".flv",),
}


def _by_extension() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for kind, extensions in MMS_TYPES.items():
        for extension in extensions:
            found.setdefault(extension, []).append(kind)
    return {extension: tuple(kinds) for extension, kinds in found.items()}


TYPES_BY_EXTENSION = _by_extension()


def parse_content_type(value: str) -> str | None:
    """The value, trimmed, if it is a well-formed ``type/subtype[; params]``; else None."""
    value = value.strip()
    if not value or len(value) > MAX_CONTENT_TYPE_LENGTH or not value.isprintable():
        return None
    return value if _CONTENT_TYPE.match(value) else None


def essence(content_type: str) -> str:
    """``type/subtype`` in lower case, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def extension_of(name: str) -> str:
    """The lower-case extension of the last segment of ``name`` (``""`` when none)."""
    last = name.rsplit("/", 1)[-1]
    dot = last.rfind(".")
    return last[dot:].lower() if dot > 0 else ""


def mms_type(content_type: str | None, name: str) -> str | None:
    """The allowed MMS type of a part, or None when it is not supported.

    ``name`` (a file name or URL path) is only consulted when the content type is
    missing or ``application/octet-stream``.
    """
    kind = essence(content_type) if content_type else OCTET_STREAM
    if kind in MMS_TYPES:
        return kind
    if kind == OCTET_STREAM:
        candidates = TYPES_BY_EXTENSION.get(extension_of(name), ())
        if len(candidates) == 1:
            return candidates[0]
    return None


def extension_for(kind: str, name: str = "") -> str:
    """The extension to give a part of type ``kind``: the name's own when it fits."""
    own = extension_of(name)
    extensions = MMS_TYPES.get(kind, ())
    if own in extensions:
        return own
    return extensions[0] if extensions else ".bin"
