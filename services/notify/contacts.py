"""Reading a contacts CSV (`authority_id,email`): every row checked, every error named by its line."""

from __future__ import annotations

import csv
import io

import email_validator
from email_validator import EmailNotValidError, validate_email

from shared.authorities import Registry

HEADER = ["authority_id", "email"]

# The demo and the tests address authorities under example.invalid (RFC 2606), so that nothing could ever reach a
# real mailbox; the library's documented way to allow a reserved name is to take it off this list.
if "invalid" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("invalid")


def normalized_address(text: str) -> str:
    """The address in its normal form; raises EmailNotValidError (reserved example.invalid names are allowed)."""
    return validate_email(text, check_deliverability=False).normalized


def parse_contacts(text: str, registry: Registry) -> tuple[list[tuple[str, str]], list[str]]:
    """(contacts, errors); the file is taken whole or not at all, so any error means nothing is imported."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        return [], [f"line 1: the header must be {','.join(HEADER)}"]
    contacts: dict[str, str] = {}
    errors: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            errors.append(f"line {line}: expected 2 columns, found {len(row)}")
            continue
        authority_id, email = row[0].strip(), row[1].strip()
        if authority_id not in registry:
            errors.append(f"line {line}: unknown authority key {authority_id!r}")
            continue
        try:
            email = normalized_address(email)
        except EmailNotValidError as exc:
            errors.append(f"line {line}: invalid email address {email!r}: {exc}")
            continue
        contacts[authority_id] = email
    return list(contacts.items()), errors
