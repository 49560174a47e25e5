"""A message's attachments, read one way for the gateway check (SPEC X3) and the policy dry-run
(SPEC X5; docs/sending.md "What the check compares"). Pure: the standard library's ``email``.

An attachment is every MIME part with a file name (inline ones too: the envelope records what
Outlook lists, pasted images included), and every part that is neither text without a name (the
body) nor a multipart container. An attached message (``message/rfc822``, an Outlook item) is
one attachment, named by its file name or else its Subject (Outlook names an attached item by
its subject), its size its bytes; its own parts are not the message's.

A message this reading cannot be sure of is ``UnreadableMessage``: MIME nested too deep for
Python's parser, a broken multipart structure (``STRUCTURE_DEFECTS``), a header the parser fails
on (``PARSER_ERRORS``). Its text names no file and quotes no header.
"""
from __future__ import annotations

import email.errors
import email.message
import email.parser
import email.policy
from dataclasses import dataclass

# What the standard library's header parser has raised on malformed input (an address list cut
# short: IndexError; an unclosed domain literal: AttributeError): such a message is not read.
PARSER_ERRORS = (IndexError, ValueError, LookupError, TypeError, AttributeError, email.errors.MessageError)
# MIME whose parts another parser may count differently: what the check saw need not be what is
# delivered. Exchange writes none of these.
STRUCTURE_DEFECTS = (email.errors.NoBoundaryInMultipartDefect, email.errors.StartBoundaryNotFoundDefect,
                     email.errors.CloseBoundaryNotFoundDefect, email.errors.MultipartInvariantViolationDefect)


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
    """A text part without a file name that is not marked ``attachment``: the message's text."""
    return (part.get_content_maintype() == "text" and part.get_filename() is None
            and part.get_content_disposition() != "attachment")


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
            if part.get_content_maintype() == "multipart":
                payload = part.get_payload()
                if not isinstance(payload, list):
                    raise UnreadableMessage("a multipart part of the message holds no parts")
                stack.extend(item for item in reversed(payload) if isinstance(item, email.message.Message))
            elif not _is_body(part):
                found.append(_attachment(part))
    except RecursionError:
        raise UnreadableMessage("the message's MIME structure is nested too deep to read") from None
    except PARSER_ERRORS:          # e.g. ``filename=`` cut short: IndexError
        raise UnreadableMessage("a MIME header of the message cannot be read") from None
    return tuple(found)
