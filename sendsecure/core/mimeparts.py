"""A message's attachments, read one way for the gateway check (SPEC X3) and the policy dry-run
(SPEC X5; docs/sending.md "What the check compares"). Pure: the standard library's ``email``.

An attachment is every MIME part with a file name (inline ones too: the envelope records what
Outlook lists, pasted images included), and every part that is neither the body nor a multipart
container. The body is ``text/plain`` and ``text/html`` without a file name and not marked
``attachment``; any other text part (a nameless ``text/x-msdos-batch``) is an attachment, named
"". An attached message (``message/rfc822``, an Outlook item) is one attachment, named by its
file name or else its Subject (Outlook names an attached item by its subject), its size its
bytes; its own parts are not the message's.

What another reader may take for other files than this reading finds is ``UnreadableMessage``
(docs/sending.md "MIME the check refuses"): a part with more than one Content-Type,
Content-Disposition or Content-Transfer-Encoding header; such a header Python reads only in part
(a parameter without its ";", a parameter given twice, ``filename`` beside ``filename*``, a type
it cannot read); a ``name`` (Content-Type) and a ``filename`` (Content-Disposition) that differ;
a transfer encoding other than the five of RFC 2045 (``TRANSFER_ENCODINGS``); a body text that
holds a file the way mail clients decode one (uuencode, yEnc, BinHex: ``EMBEDDED_FILE``). So is
MIME nested too deep for Python's parser, a broken multipart structure (``STRUCTURE_DEFECTS``)
and a header the parser fails on (``PARSER_ERRORS``). The text names no file and quotes no
header value.
"""
from __future__ import annotations

import email.errors
import email.message
import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass

# What the standard library's header parser has raised on malformed input (an address list cut
# short: IndexError; an unclosed domain literal: AttributeError): such a message is not read.
PARSER_ERRORS = (IndexError, ValueError, LookupError, TypeError, AttributeError, email.errors.MessageError)
# MIME whose parts another parser may count differently: what the check saw need not be what is
# delivered. Exchange writes none of these.
STRUCTURE_DEFECTS = (email.errors.NoBoundaryInMultipartDefect, email.errors.StartBoundaryNotFoundDefect,
                     email.errors.CloseBoundaryNotFoundDefect, email.errors.MultipartInvariantViolationDefect)
BODY_TYPES = ("text/plain", "text/html")
ONCE = ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding")
TRANSFER_ENCODINGS = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})
# Defects of a Content-Type or Content-Disposition that Exchange's own output has, read whole
# all the same: RFC 2047 encoded words inside a quoted name (Exchange's spelling of a non-ASCII
# name), raw UTF-8 (RFC 6532). Any other defect: Python read the header only in part. These are
# CPython's defect texts: should a new Python word them otherwise, such mail is refused, not let
# through, and test_s2_x3_the_rules_below_pass_what_exchange_writes says so.
READ_WHOLE = ("encoded word inside quoted string", "missing trailing whitespace after encoded-word")
# A line with which mail clients start a file inside a text body, and decode it into an
# attachment: uuencode ("begin 644 name"; Thunderbird takes three or four octal digits, Outlook
# reads uuencode in plain-text mail too), its base64 form (GNU ``uuencode -m``), yEnc, BinHex 4.0.
_EMBEDDED = r"^(?:begin(?:-base64)? [0-7]{3,4} |=ybegin |\(This file must be converted with BinHex)"
EMBEDDED_FILE = re.compile(_EMBEDDED, re.MULTILINE)
_EMBEDDED_BYTES = re.compile(_EMBEDDED.encode(), re.MULTILINE)


class UnreadableMessage(Exception):
    """The message's attachments cannot be read with certainty. The text names no file."""


@dataclass(frozen=True, slots=True)
class MessageAttachment:
    name: str                     # decoded (RFC 2231, RFC 2047); "" when the part has none
    size: int                     # decoded bytes (an attached message: its bytes)
    inline: bool = False          # its Content-Disposition says ``inline``


def parse(data: bytes) -> email.message.EmailMessage:
    """The message (``email.policy.default``); its headers are parsed when first read."""
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _is_body(part: email.message.Message) -> bool:
    """A plain or HTML text part without a file name that is not marked ``attachment``."""
    return (part.get_content_type() in BODY_TYPES and part.get_filename() is None
            and part.get_content_disposition() != "attachment")


def _read_whole(header: object) -> bool:
    for defect in getattr(header, "defects", ()):
        if isinstance(defect, email.errors.UndecodableBytesDefect):
            continue
        if isinstance(defect, email.errors.InvalidHeaderDefect) and str(defect) in READ_WHOLE:
            continue
        return False
    return True


def _check_headers(part: email.message.Message) -> None:
    """``UnreadableMessage`` when another reader may take this part's headers otherwise."""
    for name in ONCE:
        if len(part.get_all(name) or ()) > 1:
            raise UnreadableMessage(f"a part of the message has more than one {name} header")
    for name in ONCE[:2]:
        if not _read_whole(part.get(name)):
            raise UnreadableMessage(f"a {name} header of the message can be read more than one way")
    if "Content-Transfer-Encoding" in part:
        # as Python's get_payload reads it: only these five are decoded as a reader would
        if str(part.get("Content-Transfer-Encoding", "")).strip().lower() not in TRANSFER_ENCODINGS:
            raise UnreadableMessage("a part of the message has a transfer encoding other than 7bit, 8bit, "
                                    "binary, quoted-printable or base64")
    filename = part.get_param("filename", None, "content-disposition")
    named = part.get_param("name", None, "content-type")
    if filename is not None and named is not None and _collapse(filename) != _collapse(named):
        raise UnreadableMessage("a part of the message names one file in its Content-Type and another "
                                "in its Content-Disposition")


def _collapse(value: str | tuple[str | None, str | None, str]) -> str:
    """A parameter's value as ``Message.get_filename`` makes a file name of it."""
    return email.utils.collapse_rfc2231_value(value).strip()


def _embeds_file(part: email.message.Message) -> bool:
    """The body text holds a line with which a mail client starts a file (``EMBEDDED_FILE``),
    in its bytes after the transfer encoding or in its text after the charset."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return False
    if _EMBEDDED_BYTES.search(data):
        return True
    try:
        text = data.decode(part.get_content_charset() or "us-ascii", "replace")
    except LookupError:                  # a charset Python does not know: its bytes were searched
        return False
    return EMBEDDED_FILE.search(text) is not None


def _attachment(part: email.message.Message) -> MessageAttachment:
    name = part.get_filename()
    inline = part.get_content_disposition() == "inline"
    payload = part.get_payload()
    if isinstance(payload, list):          # message/rfc822 (an attached Outlook item): one file
        inner = [item for item in payload if isinstance(item, email.message.Message)]
        if name is None and inner:         # Outlook names an attached item by its subject
            name = str(inner[0].get("Subject", ""))
        return MessageAttachment(name or "", sum(len(item.as_bytes()) for item in inner), inline)
    data = part.get_payload(decode=True)
    return MessageAttachment(name or "", len(data) if isinstance(data, bytes) else 0, inline)


def read_attachments(message: bytes | email.message.Message) -> tuple[MessageAttachment, ...]:
    """The message's attachments, in the order of its parts (see the module's docstring);
    ``UnreadableMessage`` for a message this reading cannot be sure of."""
    try:
        parsed = parse(message) if isinstance(message, bytes) else message
        found: list[MessageAttachment] = []
        stack: list[email.message.Message] = [parsed]
        while stack:
            part = stack.pop()
            if any(isinstance(defect, STRUCTURE_DEFECTS) for defect in part.defects):
                raise UnreadableMessage("the message's multipart structure is broken")
            _check_headers(part)
            if part.get_content_maintype() == "multipart":
                payload = part.get_payload()
                if not isinstance(payload, list):
                    raise UnreadableMessage("a multipart part of the message holds no parts")
                stack.extend(item for item in reversed(payload) if isinstance(item, email.message.Message))
            elif not _is_body(part):
                found.append(_attachment(part))
            elif _embeds_file(part):
                raise UnreadableMessage("the message's text holds an encoded file (uuencode, yEnc or BinHex)")
    except RecursionError:
        raise UnreadableMessage("the message's MIME structure is nested too deep to read") from None
    except PARSER_ERRORS:          # e.g. ``filename=`` cut short: IndexError
        raise UnreadableMessage("a MIME header of the message cannot be read") from None
    return tuple(found)
