"""The base model every gateway object shares: wire names in and out, unknown fields kept."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["FibreCafeModel"]


class FibreCafeModel(BaseModel):
    """Base of all gateway models.

    Attributes are the wire names in snake_case (``serviceId`` -> ``service_id``); both spellings
    are accepted on input and the wire (camelCase) names are used on output. Fields the SDK does
    not know yet are kept in ``model_extra`` and written back out, so a newer gateway never loses
    data on its way through the SDK.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        # Enum members are kept (not their values) so that `is` and typing work; JSON output
        # still writes the plain values.
        use_enum_values=False,
        # Validators are built on first use, not at import: `import fibrecafe_client` stays
        # close to the cost of its dependencies (docs/performance.md).
        defer_build=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON-ready wire data: camelCase keys, only the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_json(self, *, indent: int | None = None) -> str:
        """The object as wire JSON: camelCase keys, only the fields that were set."""
        return self.model_dump_json(exclude_unset=True, indent=indent)
