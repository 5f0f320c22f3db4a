"""The parts of a KCI that also appear in a service problem's ``updates[]``.

``information``, ``action`` and ``supplierNotes`` have the same shape in a webhook KCI and in
the KCIs that ``GET /service-problems/{id}`` lists, so both use these models.
"""

from __future__ import annotations

from datetime import datetime

from ._base import FibreCafeModel
from ._enums import OpenInformationType

__all__ = ["KciAction", "KciInformation", "SupplierNote"]


class KciInformation(FibreCafeModel):
    """``information``: why an INFORMATIONAL KCI was sent.

    ``type`` is an :class:`~fibrecafe_client.InformationType` when known (``COMPLETED``,
    ``DELAY``...), else the raw string. ``code``/``text``/``supplier_code`` carry the gateway's
    reason code, its words and the supplier's own code when there is one.
    """

    type: OpenInformationType | None = None
    code: str | None = None
    text: str | None = None
    supplier_code: str | None = None


class KciAction(FibreCafeModel):
    """``action``: what the tenant must do after an ACTION_REQUIRED KCI.

    ``type`` is ``INFORMATION_REQUIRED``, ``REAPPOINT``, ``RESUBMIT`` or ``CONFIRM`` when known,
    else the raw string.
    """

    type: OpenInformationType | None = None
    code: str | None = None
    text: str | None = None
    supplier_code: str | None = None


class SupplierNote(FibreCafeModel):
    """One entry of ``supplierNotes``: a note the supplier attached to the update."""

    note: str | None = None
    type: str | None = None
    created: datetime | None = None
