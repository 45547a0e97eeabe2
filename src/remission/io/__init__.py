"""Readers for the formats trial data come in: REDCap, CDISC SDTM and HL7 FHIR R4.

Each reader turns third-party files into tidy, typed polars tables and refuses bad input with
:class:`remission.InvalidInputError` (file, row/resource, field, value, reason). The mapping layer
(:mod:`remission.io.mapping`) turns REDCap instruments into plain registry record dicts.

Modules load their heavy dependencies themselves; importing this package is cheap.
"""

from __future__ import annotations

__all__: list[str] = []
