"""Validating drafts for a session (SPEC V-*, V-O3, V-O4): the tenant, the book, the phones, the engine.

The only service between the draft triggers and the pure engine: it finds the session's
tenant and policy, the current domain book snapshot of the tenant's variant (or none, V-O3),
and calls ``rules.evaluate``.
"""
from __future__ import annotations

import logging

from sendsecure.bookstore import DomainBookStore
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.domainbook import DomainBook
from sendsecure.core.drafts import Draft
from sendsecure.core.models import OnSendDecision, Verdict
from sendsecure.core.rules import NEEDS_PHONE, TenantPolicy, categorise, evaluate, on_send_decision
from sendsecure.core.tenants import Tenant
from sendsecure.errors import DependencyUnavailable, Unauthenticated
from sendsecure.phonebook import PhoneBook
from sendsecure.sessions import Session
from sendsecure.tenantstore import TenantDirectory

logger = logging.getLogger(__name__)


class DraftValidation:
    def __init__(self, tenants: TenantDirectory, books: DomainBookStore, phones: PhoneBook) -> None:
        self._tenants = tenants
        self._books = books
        self._phones = phones
        self._policies: dict[Tenant, TenantPolicy] = {}

    def tenant_of(self, session: Session) -> Tenant:
        tenant = self._tenants.get(session.tenant_id)
        if tenant is None:
            raise Unauthenticated("Your organisation is no longer onboarded; log in again.")
        return tenant

    def policy_of(self, tenant: Tenant) -> TenantPolicy:
        policy = self._policies.get(tenant)
        if policy is None:
            policy = self._policies[tenant] = TenantPolicy(
                tenant.installation_type, frozenset(tenant.mail_domains), tenant.security_by_default)
        return policy

    def book_for(self, tenant: Tenant) -> DomainBook | None:
        try:
            return self._books.current(tenant.domain_book_variant.value)
        except DependencyUnavailable as error:  # no book at all (V-O3): the verdict says so
            logger.warning("domain book %s unavailable (%s)", tenant.domain_book_variant.value, type(error).__name__)
            return None

    def stored_phones(self, session: Session, tenant: Tenant, draft: Draft, book: DomainBook | None,
                      read_log: list[str] | None = None) -> dict[str, str]:
        """V-R9: the person's stored numbers for the recipients that may need one: outside the
        own organisation and the community (NTA route or external). One partition query at most;
        none when no recipient needs a number (the common case: mail within the community)."""
        if book is None:  # no book, no routes (V-O3)
            return {}
        own = tenant.mail_domains
        addresses = set()
        for recipient in draft.recipients:
            try:
                address = normalise_mailbox(recipient.address)
            except InvalidAddress:
                continue
            domain = address.rpartition("@")[2]
            # The sender's NTA status only tells the NTA route from external: both may need one.
            if categorise(domain, book.lookup(address, domain), own, True, sender_nta=False) in NEEDS_PHONE:
                addresses.add(address)
        return self._phones.for_draft(session, addresses, read_log) if addresses else {}

    def verdict(self, session: Session, draft: Draft, language: str, read_log: list[str] | None = None) -> Verdict:
        """The draft's verdict. With ``read_log`` the stored numbers it used are not recorded as
        ``phone.read`` here but appended to it (``PhoneBook.for_draft``): the caller records them."""
        tenant = self.tenant_of(session)
        book = self.book_for(tenant)
        return evaluate(draft, policy=self.policy_of(tenant), session_mailbox=session.mailbox, book=book,
                        stored_phones=self.stored_phones(session, tenant, draft, book, read_log), language=language)

    def record_phone_read(self, session: Session, read: list[str]) -> None:
        """Record a verdict's deferred read of stored numbers (``phone.read``, purpose ``verdict``)."""
        self._phones.record_verdict_read(session, read)

    def on_send(self, session: Session, draft: Draft, language: str,
                read_log: list[str] | None = None) -> OnSendDecision:
        tenant = self.tenant_of(session)
        return on_send_decision(self.verdict(session, draft, language, read_log), self.policy_of(tenant))
