"""The one exception hierarchy of lamina.

Every error lamina raises on purpose is a ``LaminaError``; it carries data and renders as one
clear line (``str(err)``), with an optional hint. The CLI maps the classes to exit codes in one
place (``lamina.cli.main``), and the registry maps them to OCI error codes in one place.

::

    LaminaError
    ├── InvalidArgument
    │   ├── UsageError
    │   ├── InvalidReference
    │   ├── InvalidDigest
    │   ├── InvalidManifest
    │   └── DockerfileError
    ├── NotFound
    ├── Conflict
    ├── IntegrityError
    ├── Unsupported
    ├── RegistryError
    │   ├── Unauthorized
    │   ├── Denied
    │   └── TooManyRequests
    ├── TransportError
    ├── StorageError
    ├── BuildError
    └── ContainerError

This module imports nothing from lamina.
"""

from __future__ import annotations

from typing import Self


class LaminaError(Exception):
    """Base of every lamina error: a one-line message and an optional hint."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def reworded(self, message: str) -> Self:
        """The same error saying ``message`` instead: same class, and the same data (hint,
        status, code, exit code...), for a caller that adds where it happened. Raise it
        ``from`` the original."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        Exception.__init__(clone, message)
        clone.message = message
        return clone


class InvalidArgument(LaminaError):
    """Input that is malformed: a flag, a name, a file, a field."""


class UsageError(InvalidArgument):
    """A command line docker's CLI itself refuses, before it asks its engine anything (a
    flag's value that does not parse, options that conflict): docker's exit status 125, where
    what the engine refuses is 1 (``create``; ``run`` gives 125 for both)."""


class InvalidReference(InvalidArgument):
    """An image reference that does not follow the reference grammar."""


class InvalidDigest(InvalidArgument):
    """A digest string that is not ``algorithm:hex`` of a supported algorithm."""


class InvalidManifest(InvalidArgument):
    """A manifest, index or image config that is not valid."""


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed."""


class NotFound(LaminaError):
    """Something named does not exist: an image, a container, a blob, a tag."""


class Conflict(LaminaError):
    """The operation clashes with current state (an image in use, a name taken)."""


class IntegrityError(LaminaError):
    """Content does not match what was promised: a digest, a size, a diff_id."""


class Unsupported(LaminaError):
    """Valid input that lamina does not handle (an unknown media type, an algorithm)."""


class RegistryError(LaminaError):
    """A registry answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class Unauthorized(RegistryError):
    """The registry wants credentials, or rejected the ones given."""


class Denied(RegistryError):
    """The credentials are valid but do not grant the requested access."""


class TooManyRequests(RegistryError):
    """The registry rate-limits us."""


class TransportError(LaminaError):
    """The network failed: connection refused, reset, timed out, TLS."""


class StorageError(LaminaError):
    """The local store or a storage driver failed (disk full, corrupt database)."""


class BuildError(LaminaError):
    """A build step failed."""


class ContainerError(LaminaError):
    """A container could not be created, started or managed."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 125) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class SignatureError(LaminaError):
    """An image's signatures do not satisfy the policy, or a key or signature is unusable."""
