"""Development outbox: each message becomes one ``.eml`` file in a folder (``MAIL_OUTBOX_DIR``).

For local runs and test harnesses only. The file name starts with a sortable UTC time; the
code is also in the header ``X-Dev-Login-Code`` so a harness need not parse the body. With
``log_codes`` (``MAIL_OUTBOX_LOG_CODES``, which the development host turns on) the code is
also logged; nowhere else is a code ever logged.
"""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from sendsecure.adapters.mail import OutgoingMail
from sendsecure.core.clock import utcnow
from sendsecure.errors import DependencyUnavailable

logger = logging.getLogger(__name__)


class OutboxTransport:
    def __init__(self, folder: str | Path, log_codes: bool = False) -> None:
        self.folder = Path(folder)
        self.log_codes = log_codes

    def send(self, mail: OutgoingMail) -> None:
        message = mail.to_email_message()
        if mail.login_code:
            message["X-Dev-Login-Code"] = mail.login_code
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.folder / (name + ".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(bytes(message))
            os.replace(temporary, self.folder / name)  # readers never see half a file
        except OSError as error:  # a full disk, a folder it may not write: as a mail server that is down
            logger.error("development outbox: cannot write to %s (%s)", self.folder, type(error).__name__)
            raise DependencyUnavailable("The mail service is unavailable.") from None
        if self.log_codes:
            logger.warning("DEVELOPMENT OUTBOX: login code %s written to %s", mail.login_code, name)
