"""Where an encrypted store's bytes live, kept apart from how they are encrypted.

The local provider encrypts a whole document and hands the bytes to a ``BlobStorage``. The library
uses a file (atomic rename, cross-process lock); the operator uses a Kubernetes Secret or ConfigMap
(optimistic concurrency on resourceVersion). Both satisfy this protocol, so one provider class serves
both and the operator never needs a provider of its own.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable


@runtime_checkable
class BlobStorage(Protocol):
    """Holds one opaque blob. ``read`` returns None when nothing has been stored yet."""

    def read(self) -> bytes | None:
        """The stored bytes, or None when the blob does not exist yet."""

    def write(self, data: bytes) -> None:
        """Replace the blob atomically: a reader sees the old bytes or the new ones, never a mix."""

    def lock(self) -> AbstractContextManager[object]:
        """Exclusive access for a read-modify-write cycle (across processes where that applies)."""

    def describe(self) -> str:
        """Where the blob lives, for messages (a path or namespace/name), never its content."""


@runtime_checkable
class StampedBlobStorage(BlobStorage, Protocol):
    """A ``BlobStorage`` that can tell cheaply whether the blob changed, without reading it.

    Optional: readers that cache the decoded blob compare stamps instead of re-reading the bytes.
    A file uses (inode, size, mtime); a Kubernetes object would use its resourceVersion.
    """

    def stamp(self) -> object | None:
        """A value that changes whenever the blob changes; None when the blob does not exist."""
