"""The audit tags of accounts: sign-up, sign-in, sessions, corrections."""

from __future__ import annotations

from minimaker.kernel.audit import AuditTag
from minimaker.kernel.purposes import Purpose

SUBJECT_CREATED = AuditTag("account", "subject", "created", Purpose.SERVICE)
PROFILE_CORRECTED = AuditTag("account", "profile", "corrected", Purpose.SERVICE)
LOGIN_FAILED = AuditTag("account", "login", "failed", Purpose.SECURITY)
SESSION_CREATED = AuditTag("account", "session", "created", Purpose.SECURITY)
SESSION_ENDED = AuditTag("account", "session", "ended", Purpose.SECURITY)
#: A wrong password given as proof of the person before a destructive action (DELETE /me).
PASSWORD_REFUSED = AuditTag("account", "password", "refused", Purpose.SECURITY)
#: The password changed by its owner (proved by the current one); other sessions ended.
PASSWORD_CHANGED = AuditTag("account", "password", "changed", Purpose.SECURITY)
#: A reset link was mailed (only to an address on file; nothing is recorded for others).
PASSWORD_RESET_REQUESTED = AuditTag("account", "password_reset", "requested", Purpose.SECURITY)
#: A password set through a reset link; every session ended.
PASSWORD_RESET = AuditTag("account", "password", "reset", Purpose.SECURITY)
