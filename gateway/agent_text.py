"""Text that agents add to a user's turn, told apart from the user's own words.

Claude Code starts user turns with ``<system-reminder>`` blocks (long, English, naming
its tools): the agent's words, not the user's. Routing must not let them decide the
language (``features``), and the demo model must not take them for a request to call
the tools they name (``emulators.replies``).
"""

from __future__ import annotations

REMINDER_OPEN = "<system-reminder>"
REMINDER_CLOSE = "</system-reminder>"


def user_words(s: str) -> str:
    """``s`` without its ``<system-reminder>`` blocks, stripped. One pass of ``str.find``;
    an unclosed reminder runs to the end of the text."""
    at = s.find(REMINDER_OPEN)
    if at < 0:
        return s if not s.isspace() else ""
    pieces: list[str] = []
    pos = 0
    while at >= 0:
        pieces.append(s[pos:at])
        end = s.find(REMINDER_CLOSE, at)
        if end < 0:
            pos = len(s)
            break
        pos = end + len(REMINDER_CLOSE)
        at = s.find(REMINDER_OPEN, pos)
    pieces.append(s[pos:])
    return "".join(pieces).strip()
