"""Sign-up rules: what a valid name, email, username and password look like."""

from __future__ import annotations

import re
import unicodedata

from minimaker.kernel.errors import ValidationFailed

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
# Deliberately simple: one @, a dot in the domain, no spaces. Real proof is a sent link.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
MAX_NAME = 200
MAX_EMAIL = 254


def clean_name(name: str) -> str:
    """A display name: trimmed, normalised, 1 to 200 characters, no control characters."""
    value = unicodedata.normalize("NFC", name).strip()
    if not value:
        raise ValidationFailed("name", "must not be empty")
    if len(value) > MAX_NAME:
        raise ValidationFailed("name", f"must be at most {MAX_NAME} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationFailed("name", "must not contain control characters")
    return value


def clean_email(email: str) -> str:
    """An email address as given (trimmed); its lookup key is `email_key`."""
    value = email.strip()
    if len(value) > MAX_EMAIL or not EMAIL_RE.match(value):
        raise ValidationFailed("email", "is not a valid email address")
    return value


def email_key(email: str) -> str:
    """The normalised form two equal addresses share (case-insensitive)."""
    return email.strip().lower()


def clean_username(username: str) -> str:
    """3 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    value = username.strip()
    if not USERNAME_RE.match(value):
        raise ValidationFailed(
            "username", "must be 3-32 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return value


def username_key(username: str) -> str:
    return username.strip().lower()


def check_password(password: str) -> None:
    """Length is what matters (NIST SP 800-63B): 10 to 1024 characters."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed("password", f"must be at most {MAX_PASSWORD} characters")


def login_key(login: str) -> tuple[str, str]:
    """Which blind index a login name is looked up by: email if it has an @, else username."""
    if "@" in login:
        return "email", email_key(login)
    return "username", username_key(login)
