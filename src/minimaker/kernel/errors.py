"""The one error tree: each error carries its data, a safe message and its HTTP status.

Messages never include personal data: they name limits, kinds and ids we minted, never a
name, email, username or file name a person gave us.
"""

from __future__ import annotations


class MiniMakerError(Exception):
    """Root of every error MiniMaker raises on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message()
        super().__init__(self.message)

    def default_message(self) -> str:
        return "internal error"


# --- 400 family -------------------------------------------------------------------------


class BadRequest(MiniMakerError):
    status = 400
    code = "bad_request"

    def default_message(self) -> str:
        return "bad request"


class ValidationFailed(BadRequest):
    status = 422
    code = "validation_failed"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class NotAuthenticated(MiniMakerError):
    status = 401
    code = "not_authenticated"

    def default_message(self) -> str:
        return "authentication required"


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"

    def default_message(self) -> str:
        return "incorrect username or password"


class Forbidden(MiniMakerError):
    status = 403
    code = "forbidden"

    def default_message(self) -> str:
        return "forbidden"


class CsrfFailed(Forbidden):
    code = "csrf_failed"

    def default_message(self) -> str:
        return "the form expired or did not come from this site; reload the page and try again"


class NotFound(MiniMakerError):
    """Also what another subject's object answers: existence is never leaked."""

    status = 404
    code = "not_found"

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"{kind} not found")


class Conflict(MiniMakerError):
    status = 409
    code = "conflict"

    def default_message(self) -> str:
        return "conflict"


class AlreadyTaken(Conflict):
    code = "already_taken"

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"that {field} is already registered")


class NotReady(Conflict):
    code = "not_ready"

    def __init__(self, kind: str, status: str) -> None:
        self.kind = kind
        self.state = status
        super().__init__(f"{kind} is {status}, not ready")


class PayloadTooLarge(MiniMakerError):
    status = 413
    code = "payload_too_large"

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(f"the upload exceeds the limit of {limit_bytes} bytes")


class UnsupportedMediaType(MiniMakerError):
    status = 415
    code = "unsupported_media_type"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        super().__init__("unsupported file type; allowed: " + ", ".join(allowed))


class InvalidImage(MiniMakerError):
    status = 422
    code = "invalid_image"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the image cannot be used: {reason}")


class ImageTooLarge(InvalidImage):
    # 413, not 422: the image is well formed, only bigger than this service decodes.
    status = 413
    code = "image_too_large"

    def __init__(self, pixels: int | None, limit_pixels: int) -> None:
        self.pixels = pixels
        self.limit_pixels = limit_pixels
        size = f"{pixels} pixels" if pixels else "the image"
        MiniMakerError.__init__(self, f"{size} exceeds the limit of {limit_pixels} pixels")


class ProcessingRefused(MiniMakerError):
    """A purpose the subject objected to, or processing while restricted (Art. 18, 21)."""

    status = 403
    code = "processing_refused"

    def __init__(self, purpose: str, reason: str) -> None:
        self.purpose = purpose
        self.reason = reason
        super().__init__(f"processing for '{purpose}' refused: {reason}")


class TooManyAttempts(MiniMakerError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many attempts; try again in {retry_after_s} seconds")


class PasswordRequired(Forbidden):
    """A destructive action needs the person's current password, and none was given.

    A bearer token proves a session, not a person: a stolen one must not erase an account.
    """

    code = "password_required"

    def default_message(self) -> str:
        return "your current password is required for this; nothing was changed"


class PasswordIncorrect(Forbidden):
    """The password given to prove the person was wrong (403: the token itself is fine)."""

    code = "password_incorrect"

    def default_message(self) -> str:
        return "the password is not correct; nothing was changed"


class ImageDecodesTooLarge(ImageTooLarge):
    """The header says decoding would take more memory than one image may (policy 3.6)."""

    code = "image_decodes_too_large"

    def __init__(self, decoded_bytes: int, limit_bytes: int) -> None:
        self.decoded_bytes = decoded_bytes
        self.limit_bytes = limit_bytes
        MiniMakerError.__init__(
            self,
            f"the image would take {decoded_bytes} bytes decoded; the limit is {limit_bytes}",
        )


class QuotaExceeded(MiniMakerError):
    """Storing this would take the subject over their storage quota; nothing was written."""

    status = 413
    code = "quota_exceeded"

    def __init__(self, limit_bytes: int, used_bytes: int, adding_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.used_bytes = used_bytes
        self.adding_bytes = adding_bytes
        super().__init__(
            f"this needs {adding_bytes} bytes but your storage quota of {limit_bytes} bytes "
            f"has {max(0, limit_bytes - used_bytes)} left; delete photos or models to make room"
        )


class ModelTooLarge(MiniMakerError):
    """The model's files, estimated from its grid before any mesh is built, exceed the cap."""

    status = 413
    code = "model_too_large"

    def __init__(self, estimated_bytes: int, limit_bytes: int) -> None:
        self.estimated_bytes = estimated_bytes
        self.limit_bytes = limit_bytes
        super().__init__(
            f"the model would take about {estimated_bytes} bytes (limit {limit_bytes}); "
            "choose a smaller max_resolution"
        )


class SubjectErased(MiniMakerError):
    """The account was erased while this request ran: nothing of it is kept (Art. 17)."""

    status = 410
    code = "subject_erased"

    def default_message(self) -> str:
        return "this account has been erased; nothing was stored"


class GenerationRateLimited(TooManyAttempts):
    """More generations in the window than a subject may start (policy 3.6)."""

    code = "generation_rate_limited"

    def __init__(self, limit: int, window_s: int, retry_after_s: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.retry_after_s = retry_after_s
        MiniMakerError.__init__(
            self,
            f"at most {limit} models per {window_s} seconds; try again in {retry_after_s} seconds",
        )


class TooManyGenerations(TooManyAttempts):
    """More models queued or running at once than a subject may have."""

    code = "too_many_generations"

    def __init__(self, limit: int, retry_after_s: int) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        MiniMakerError.__init__(
            self,
            f"at most {limit} models may be queued or running at once; "
            f"try again in about {retry_after_s} seconds",
        )


class DecodeBusy(TooManyAttempts):
    """The process is decoding as many pixels as it may at once; not the caller's fault."""

    # A TooManyAttempts for its Retry-After header; 503: the server is busy, the client
    # did nothing wrong (429 would say it sent too much).
    status = 503
    code = "busy"

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        MiniMakerError.__init__(
            self, f"busy processing other images; try again in {retry_after_s} seconds"
        )


class StorageUnavailable(MiniMakerError):
    """The blob store cannot be reached, or refused us (down, throttling, misconfigured).

    503, not 500: nothing is wrong with the request or the data, and a retry may succeed. A
    write it interrupts leaves nothing visible (the blob appears only once complete).
    """

    status = 503
    code = "storage_unavailable"

    def __init__(self, reason: str, *, retry_after_s: int = 30) -> None:
        self.reason = reason  # the kind of failure (an error class or S3 code): for the log
        self.retry_after_s = retry_after_s
        super().__init__(f"the storage is unavailable; try again in {retry_after_s} seconds")


# --- 500 family: our side -----------------------------------------------------------------


class IntegrityError(MiniMakerError):
    """Stored data failed an integrity check: tampering or corruption, never user error."""

    status = 500
    code = "integrity_error"


class BlobIntegrityError(IntegrityError):
    code = "blob_integrity_error"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"encrypted blob failed its integrity check: {reason}")


class KeyUnavailable(IntegrityError):
    """The subject's data key is gone (crypto-shredded) or the master key is wrong."""

    code = "key_unavailable"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"key unavailable: {reason}")


class AuditChainBroken(IntegrityError):
    code = "audit_chain_broken"

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        self.reason = reason
        super().__init__(f"audit chain broken at entry {seq}: {reason}")


class GenerationFailed(MiniMakerError):
    status = 422
    code = "generation_failed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"model generation failed: {reason}")


class ConfigurationError(MiniMakerError):
    code = "configuration_error"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"configuration error: {reason}")
