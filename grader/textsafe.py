"""Make untrusted text (learner messages, output, tracebacks) safe for any reporter.

`clean_text` turns anything into a plain ``str`` that a terminal, a JSON file and an XML
1.0 document can all hold: no lone surrogates, no terminal escape sequences, no control
characters but newline and tab, nothing XML 1.0 forbids, and optionally a bounded length.
Pure Python; nothing here imports torch or rich.
"""

from __future__ import annotations

import re

__all__ = ["REPLACEMENT", "clean_text"]

REPLACEMENT = "\ufffd"

# Terminal escape sequences (ECMA-48), 7-bit and 8-bit introducers alike.
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
# OSC, DCS, SOS, PM, APC: a string ended by BEL or ST. The payload stops at any introducer,
# so a string of unterminated introducers costs linear time.
_STRING_INTRO = "\x90\x98\x9d\x9e\x9f"
_STRING = (
    rf"(?:\x1b[\]PX^_]|[{_STRING_INTRO}])"
    rf"[^\x07\x1b\x9c{_STRING_INTRO}]*(?:\x07|\x1b\\|\x9c)"
)
# Any other escape: ESC, intermediate bytes, one final byte (ESC ( B, ESC 7, ESC c, ...).
_OTHER_ESC = r"\x1b[ -/]*[0-~]"
_ESCAPES = re.compile(f"{_CSI}|{_STRING}|{_OTHER_ESC}")

_SURROGATE = re.compile("[\ud800-\udfff]")
_NEWLINES = re.compile("\r\n?")
# C0 but tab and newline, DEL, C1, and the XML 1.0 non-characters U+FFFE and U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")

# With a limit, input is cleaned in chunks of limit * _HEAD_FACTOR + _HEAD_SLACK characters;
# a chunk ends before an escape introducer found in its last _ESCAPE_REACH characters.
_HEAD_FACTOR = 4
_HEAD_SLACK = 1024
_ESCAPE_REACH = 256
_INTRODUCERS = "\x1b\x9b" + _STRING_INTRO


def clean_text(text: object, limit: int | None = None) -> str:
    """Return ``text`` as a plain ``str`` that every reporter can write.

    - Anything is accepted: a ``str`` (subclasses included, without calling their
      ``__str__``), ``bytes`` (decoded as UTF-8), ``None`` (the empty string), or any object
      (its ``str()``, or a plain ``object.__repr__`` when that fails).
    - Surrogate pairs become the character they encode; lone surrogates become U+FFFD.
    - Terminal escape sequences (CSI, OSC, DCS, ... and two-byte escapes) are removed.
    - ``\\r\\n`` and a lone ``\\r`` become ``\\n``; every other C0 or C1 control character
      and DEL is removed, except newline and tab.
    - Characters XML 1.0 does not allow (U+FFFE, U+FFFF) are removed.
    - With ``limit``, the result keeps its first ``limit`` characters followed by
      ``" ... (N more characters)"``; N counts the characters left out.
    """
    raw = _as_str(text)
    if limit is None:
        return _clean(raw)
    limit = max(0, int(limit))
    cleaned, used = _clean_head(raw, limit)
    more = max(0, len(cleaned) - limit) + len(raw) - used
    if not more:
        return cleaned
    return f"{cleaned[:limit]} ... ({more} more character{'s' if more != 1 else ''})"


def _clean_head(raw: str, limit: int) -> tuple[str, int]:
    """Clean ``raw`` chunk by chunk until more than ``limit`` characters come out.

    Returns the cleaned text and how many input characters it used, so a huge input
    costs about as much as its first few ``limit`` characters.
    """
    size = limit * _HEAD_FACTOR + _HEAD_SLACK
    parts: list[str] = []
    done = used = 0
    while used < len(raw) and done <= limit:
        end = _chunk_end(raw, used, size)
        parts.append(_clean(raw[used:end]))
        done += len(parts[-1])
        used = end
    return "".join(parts), used


def _chunk_end(raw: str, start: int, size: int) -> int:
    """End of the chunk from ``start``: not inside an escape sequence or surrogate pair."""
    end = start + size
    if end >= len(raw):
        return len(raw)
    intro = max(raw.rfind(c, end - _ESCAPE_REACH, end) for c in _INTRODUCERS)
    if intro > start:
        end = intro  # an escape sequence may start here: leave it to the next chunk
    if "\ud800" <= raw[end - 1] <= "\udbff":
        end -= 1  # keep a surrogate pair together
    return end


def _as_str(text: object) -> str:
    """An exact ``str`` for ``text``; never raises, never runs a str subclass's code."""
    try:
        return _coerce(text)
    except Exception:  # a hostile __str__ or __class__: fall back to the plain repr
        return object.__repr__(text)


def _coerce(text: object) -> str:
    if text is None:
        return ""
    if type(text) is str:
        return text
    if isinstance(text, str):
        return str.__str__(text)  # an exact copy; ignores an overridden __str__
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", "replace")
    return str.__str__(str(text))


def _clean(text: str) -> str:
    """Fix surrogates, then drop escape sequences and forbidden characters."""
    if _SURROGATE.search(text):
        text = _fix_surrogates(text)
    text = _ESCAPES.sub("", text)
    text = _NEWLINES.sub("\n", text)
    return _FORBIDDEN.sub("", text)


def _fix_surrogates(text: str) -> str:
    """Join surrogate pairs into their character and replace lone surrogates by U+FFFD."""
    data = text.encode("utf-16-le", "surrogatepass")
    return data.decode("utf-16-le", "replace")
