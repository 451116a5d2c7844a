"""The event base class, its type registry and upcasting.

Every fact Loom records is a subclass of :class:`Event`: a frozen pydantic model
with a stable dotted ``type`` (its wire name, never its Python path) and a
``class_version``. A subclass registers itself under its ``type`` when it is
defined; :func:`event_class` finds it again when a stored event is read.

When an event's fields change, its ``class_version`` goes up and the class gains
a static method ``upcast_vN_vM(payload) -> payload`` for each step, so payloads
stored by an older Loom still read back as the current class. When a class is
renamed, its old wire names go in ``former_types`` so no stored event becomes
unreadable.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from loom.domain.errors import UnknownEventTypeError

__all__ = [
    "ENVELOPE_FIELDS",
    "BlobHash",
    "Context",
    "Event",
    "StreamCursor",
    "event_class",
    "registered_types",
]

E = TypeVar("E", bound="Event")

ENVELOPE_FIELDS: set[str] = {"stream", "version"}
"""Fields the store keeps in its own columns rather than in the payload."""


class _BlobRef:
    """Marks a field whose value is the sha256 of a blob in the blob store."""


BlobHash = Annotated[
    str,
    _BlobRef(),
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 (hex) of a blob in Loom's content-addressed blob store",
    ),
]

_REGISTRY: dict[str, builtins.type[Event]] = {}


class Event(BaseModel):
    """An immutable fact in the log.

    Attributes:
        type: the stable dotted wire name, for example ``tool.call.completed``.
        class_version: the payload's schema version, raised with an upcaster.
        former_types: old wire names this class still answers to.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    class_version: ClassVar[int] = 1
    former_types: ClassVar[tuple[str, ...]] = ()
    _blob_fields: ClassVar[tuple[str, ...]] = ()

    stream: str = Field(description="The stream (session or task) this event is in.")
    version: int = Field(ge=1, description="Position of the event in its stream.")
    id: UUID = Field(description="Unique id, drawn from the injected IdGen.")
    at: datetime = Field(description="When it happened, from the injected Clock.")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._blob_fields = tuple(
            name
            for name, info in cls.model_fields.items()
            if any(isinstance(m, _BlobRef) for m in info.metadata)
            or _names_blobs(info.annotation)
        )
        if "type" in cls.__dict__:
            for name in (cls.type, *cls.former_types):
                _register(name, cls)

    @classmethod
    def upcast(cls, payload: dict[str, Any], stored_version: int) -> dict[str, Any]:
        """Bring a stored payload from ``stored_version`` up to ``class_version``."""
        for step in range(stored_version, cls.class_version):
            upcaster: Callable[[dict[str, Any]], dict[str, Any]] = getattr(
                cls, f"upcast_v{step}_v{step + 1}"
            )
            payload = upcaster(payload)
        return payload

    def blob_refs(self) -> list[str]:
        """The blob hashes this event names (they must be stored first)."""
        refs: list[str] = []
        for name in self._blob_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                refs.append(value)
            elif isinstance(value, list | tuple):
                refs.extend(value)
        return refs


def _names_blobs(annotation: object) -> bool:
    """Whether a type (``BlobHash | None``, ``list[BlobHash]``...) holds blob hashes."""
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, _BlobRef) for m in get_args(annotation)[1:])
    return any(_names_blobs(arg) for arg in get_args(annotation))


def _register(name: str, cls: builtins.type[Event]) -> None:
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise TypeError(
            f"event type {name!r} is already registered to {existing.__qualname__}"
        )
    _REGISTRY[name] = cls


def event_class(type_name: str) -> builtins.type[Event]:
    """The event class registered under a wire name (current or former)."""
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownEventTypeError(
            f"no event class is registered for type {type_name!r}; "
            "was it renamed without listing the old name in former_types?"
        ) from None


def registered_types() -> Iterator[tuple[str, builtins.type[Event]]]:
    """Every registered wire name with its class (aliases included)."""
    return iter(sorted(_REGISTRY.items()))


@dataclass(frozen=True)
class Context:
    """What a decision needs from the outside world: the time and fresh ids.

    The app builds it from the ``Clock`` and ``IdGen`` ports, so domain code stays
    deterministic and a replay can supply the recorded values.
    """

    now: Callable[[], datetime]
    new_id: Callable[[], UUID]


class StreamCursor:
    """Stamps new events for one stream with consecutive versions, ids and times.

    It starts at the version the caller last saw (the expected version): when the
    events are appended and another writer got there first, the store raises
    ``ConcurrencyError``.
    """

    def __init__(self, stream: str, expected_version: int, context: Context) -> None:
        self.stream = stream
        self.version = expected_version
        self._context = context

    def new(self, cls: builtins.type[E], **fields: Any) -> E:
        """Create the stream's next event of class ``cls``."""
        self.version += 1
        return cls(
            stream=self.stream,
            version=self.version,
            id=self._context.new_id(),
            at=self._context.now(),
            **fields,
        )
