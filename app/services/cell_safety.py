"""Spreadsheet safety for the text the service writes into CSV and XLSX files.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula, and a
leading tab or carriage return is dropped on the way in, which can leave such a cell behind.
Project text is typed by regions and exported to anyone, so every text cell of every export goes
through ``neutralise``: a leading apostrophe makes it literal text (OWASP's CSV injection
advice, and Excel's own marker for "this is text"). Numbers and dates are never touched: they
are typed values, not text. On import, ``restore`` takes that apostrophe off again, so an
exported file imports back to the text that was exported (Excel does the same: the marker is not
part of the value).
"""

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
MARK = "'"


def neutralise(text: str) -> str:
    """The text as a spreadsheet shows it and never runs it."""
    return MARK + text if text.startswith(TRIGGERS) else text


def restore(text: str) -> str:
    """Text read from a cell, without the apostrophe ``neutralise`` put before a trigger."""
    if text.startswith(MARK) and text[1:].startswith(TRIGGERS):
        return text[1:]
    return text
