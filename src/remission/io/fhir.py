"""HL7 FHIR R4 resources and Bundles → tidy polars tables.

Every resource is first validated with ``fhir.resources`` (its R4B models, the closest to R4
4.0.1 that the library ships; every official R4 example and the Synthea bundles validate), then
flattened from its JSON:

* **Bundles** of any type (transaction, collection, batch-response, searchset) are walked
  recursively (a batch-response nests Bundles in ``entry[].resource``); entries without a
  ``resource`` (DELETE/GET requests) are skipped.
* **References** are resolved within the file: by ``fullUrl`` first (``urn:uuid:…``), then by
  ``Type/id``; ``#id`` points into the resource's ``contained`` list. ``patient_id`` is the
  Patient's logical ``id`` when the Patient is in the file, else the reference's last segment.
* **Choice types** are read under every variant (``effective[x]``, ``value[x]``, ``onset[x]``,
  ``medication[x]``, ``performed[x]``).
* **Dates** keep their text (``*_text``, any precision, with zone) and gain a ``date`` column only
  when the text is complete to the day (partial dates are imputed by the importer,
  :func:`remission.io.sources.batch_from_fhir`, per derivation). ``version_id`` is ``meta.versionId``.
* Resources with status ``entered-in-error`` are dropped (counted in ``skipped``).

Tables: ``patients``, ``observations`` (one row per value; blood-pressure ``component[]`` give one
row each), ``medications`` (MedicationStatement, MedicationRequest, MedicationAdministration),
``conditions``, ``adverse_events``, ``procedures``, ``research_subjects``.

Examples
--------
>>> bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
...   {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
...                                          "gender": "female",
...                                          "birthDate": "1980-04"}},
...   {"resource": {"resourceType": "Observation", "status": "final",
...    "subject": {"reference": "urn:uuid:p1"},
...    "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
...    "effectiveDateTime": "2024-01-05T08:00:00+01:00",
...    "valueQuantity": {"value": 12.5, "unit": "mg/L", "system": "http://unitsofmeasure.org",
...                      "code": "mg/L"}}}]}
>>> t = read_fhir_json(bundle)
>>> t.tables["observations"].select("patient_id", "code", "value", "unit", "date").rows()
[('p1', '1988-5', 12.5, 'mg/L', datetime.date(2024, 1, 5))]
>>> t.tables["patients"].select("patient_id", "sex", "birth_date_text", "birth_date").rows()
[('p1', 'female', '1980-04', None)]
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remission.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    import polars as pl

Json = dict[str, Any]
UCUM = "http://unitsofmeasure.org"

TABLES: dict[str, tuple[str, ...]] = {
    "patients": (
        "patient_id",
        "sex",
        "birth_date_text",
        "birth_date",
        "deceased",
        "deceased_text",
        "family",
        "given",
        "source",
    ),
    "observations": (
        "patient_id",
        "resource_id",
        "status",
        "category",
        "system",
        "code",
        "display",
        "effective_text",
        "date",
        "value",
        "unit",
        "unit_system",
        "value_text",
        "source",
    ),
    "medications": (
        "patient_id",
        "resource_id",
        "resource_type",
        "status",
        "system",
        "code",
        "display",
        "start_text",
        "start_date",
        "end_text",
        "end_date",
        "dose",
        "dose_unit",
        "route",
        "asserted_text",
        "version_id",
        "source",
    ),
    "conditions": (
        "patient_id",
        "resource_id",
        "clinical_status",
        "system",
        "code",
        "display",
        "onset_text",
        "onset_date",
        "source",
    ),
    "adverse_events": (
        "patient_id",
        "resource_id",
        "actuality",
        "system",
        "code",
        "display",
        "date_text",
        "date",
        "seriousness",
        "severity",
        "outcome",
        "version_id",
        "source",
    ),
    "procedures": (
        "patient_id",
        "resource_id",
        "status",
        "system",
        "code",
        "display",
        "start_text",
        "start_date",
        "end_text",
        "end_date",
        "version_id",
        "source",
    ),
    "research_subjects": ("resource_id", "patient_id", "study", "status", "source"),
}
_FLOAT = {"value", "dose"}
_DATE = {"birth_date", "date", "start_date", "end_date", "onset_date"}
_BOOL = {"deceased"}


@dataclass
class FhirTables:
    """Tables by name (see :data:`TABLES`) and counts of resources not tabulated, by type."""

    tables: dict[str, pl.DataFrame]
    skipped: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------


def _date(text: str | None) -> str | None:
    """``YYYY-MM-DD`` when ``text`` is complete to the day, else None (partial stays partial)."""
    if isinstance(text, str) and len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError:  # "2024-02-30" in a free-text onsetString: not a date
            return None
    return None


def _choice(res: Json, stem: str) -> tuple[str | None, str | None]:
    """(start, end) texts of a ``stem[x]`` choice: DateTime, Period, Instant, String, Age…"""
    for suffix in ("DateTime", "Instant", "Date"):
        if f"{stem}{suffix}" in res:
            return res[f"{stem}{suffix}"], None
    period = res.get(f"{stem}Period")
    if period:
        return period.get("start"), period.get("end")
    if f"{stem}String" in res:
        return res[f"{stem}String"], None
    return None, None


def _coding(concept: Json | None) -> tuple[str | None, str | None, str | None]:
    if not concept:
        return None, None, None
    codings = concept.get("coding") or [{}]
    c = codings[0]
    return c.get("system"), c.get("code"), c.get("display") or concept.get("text")


def _code_text(concept: Json | None) -> str | None:
    _, code, display = _coding(concept)
    return code or display


@dataclass
class _Walker:
    source: str
    rows: dict[str, list[Json]] = field(default_factory=lambda: {t: [] for t in TABLES})
    skipped: Counter[str] = field(default_factory=Counter)
    by_url: dict[str, Json] = field(default_factory=dict)

    def index(self, resources: list[tuple[str | None, Json]]) -> None:
        for full_url, res in resources:
            if full_url:
                self.by_url[full_url] = res
            if res.get("id"):
                self.by_url[f"{res['resourceType']}/{res['id']}"] = res

    def resolve(self, ref: Json | None, container: Json | None = None) -> tuple[Json | None, str | None]:
        """(resource or None, fallback id) of a Reference."""
        if not ref or not ref.get("reference"):
            return None, None
        text = ref["reference"]
        if text.startswith("#") and container is not None:
            hit = next((c for c in container.get("contained") or [] if c.get("id") == text[1:]), None)
            return hit, text[1:]
        hit = self.by_url.get(text) or self.by_url.get("/".join(text.split("/")[-2:]))
        return hit, text.rsplit("/", 1)[-1].removeprefix("urn:uuid:")

    def patient(self, res: Json) -> str | None:
        ref = res.get("subject") or res.get("patient") or res.get("individual")
        hit, fallback = self.resolve(ref, res)
        if hit is not None and hit.get("resourceType") == "Patient" and hit.get("id"):
            return str(hit["id"])
        return fallback

    def add(self, res: Json) -> None:
        kind = res.get("resourceType", "")
        if res.get("status") == "entered-in-error":
            self.skipped[f"{kind} (entered-in-error)"] += 1
            return
        handler = getattr(self, f"_{kind.lower()}", None)
        if handler is None:
            self.skipped[kind] += 1
            return
        handler(res)

    def _row(self, table: str, **values: Any) -> None:
        self.rows[table].append({**values, "source": self.source})

    def _patient(self, res: Json) -> None:
        name = (res.get("name") or [{}])[0]
        deceased = res.get("deceasedBoolean")
        deceased_text = res.get("deceasedDateTime")
        self._row(
            "patients",
            patient_id=res.get("id"),
            sex=res.get("gender"),
            birth_date_text=res.get("birthDate"),
            birth_date=_date(res.get("birthDate")),
            deceased=True if deceased_text else deceased,
            deceased_text=deceased_text,
            family=name.get("family"),
            given=" ".join(name.get("given") or []) or None,
        )

    def _observation(self, res: Json) -> None:
        effective, _ = _choice(res, "effective")
        category = "; ".join(filter(None, (_code_text(c) for c in res.get("category", [])))) or None
        base = {
            "patient_id": self.patient(res),
            "resource_id": res.get("id"),
            "status": res.get("status"),
            "category": category,
            "effective_text": effective,
            "date": _date(effective),
        }
        parts = [(res.get("code"), res)] if not res.get("component") or _has_value(res) else []
        parts += [(c.get("code"), c) for c in res.get("component", [])]
        for concept, holder in parts:
            system, code, display = _coding(concept)
            self._row("observations", **base, system=system, code=code, display=display, **_value(holder))

    def _medication_row(self, res: Json, start: str | None, end: str | None, dosage: Json | None) -> None:
        concept = res.get("medicationCodeableConcept")
        if concept is None:
            med, _ = self.resolve(res.get("medicationReference"), res)
            concept = (med or {}).get("code") or {"text": (res.get("medicationReference") or {}).get("display")}
        system, code, display = _coding(concept)
        dose, unit, route = _dose(dosage)
        self._row(
            "medications",
            patient_id=self.patient(res),
            resource_id=res.get("id"),
            resource_type=res["resourceType"],
            status=res.get("status"),
            system=system,
            code=code,
            display=display,
            start_text=start,
            start_date=_date(start),
            end_text=end,
            end_date=_date(end),
            dose=dose,
            dose_unit=unit,
            route=route,
            asserted_text=res.get("dateAsserted"),
            version_id=_version(res),
        )

    def _medicationstatement(self, res: Json) -> None:
        start, end = _choice(res, "effective")
        self._medication_row(res, start, end, (res.get("dosage") or [None])[0])

    def _medicationrequest(self, res: Json) -> None:
        self._medication_row(res, res.get("authoredOn"), None, (res.get("dosageInstruction") or [None])[0])

    def _medicationadministration(self, res: Json) -> None:
        start, end = _choice(res, "effective")
        self._medication_row(res, start, end, res.get("dosage"))

    def _condition(self, res: Json) -> None:
        onset, _ = _choice(res, "onset")
        system, code, display = _coding(res.get("code"))
        self._row(
            "conditions",
            patient_id=self.patient(res),
            resource_id=res.get("id"),
            clinical_status=_code_text(res.get("clinicalStatus")),
            system=system,
            code=code,
            display=display,
            onset_text=onset,
            onset_date=_date(onset),
        )

    def _adverseevent(self, res: Json) -> None:
        # R4 AdverseEvent (actuality, event, seriousness, severity); R5 remodels it: not mapped.
        system, code, display = _coding(res.get("event"))
        date = res.get("date") or res.get("detected")
        self._row(
            "adverse_events",
            patient_id=self.patient(res),
            resource_id=res.get("id"),
            actuality=res.get("actuality"),
            system=system,
            code=code,
            display=display,
            date_text=date,
            date=_date(date),
            seriousness=_code_text(res.get("seriousness")),
            severity=_code_text(res.get("severity")),
            outcome=_code_text(res.get("outcome")),
            version_id=_version(res),
        )

    def _procedure(self, res: Json) -> None:
        start, end = _choice(res, "performed")
        system, code, display = _coding(res.get("code"))
        self._row(
            "procedures",
            patient_id=self.patient(res),
            resource_id=res.get("id"),
            status=res.get("status"),
            system=system,
            code=code,
            display=display,
            start_text=start,
            start_date=_date(start),
            end_text=end,
            end_date=_date(end),
            version_id=_version(res),
        )

    def _researchsubject(self, res: Json) -> None:
        study, fallback = self.resolve(res.get("study"), res)
        self._row(
            "research_subjects",
            resource_id=res.get("id"),
            patient_id=self.patient(res),
            study=(study or {}).get("id") or fallback,
            status=res.get("status"),
        )


def _version(res: Json) -> str | None:
    """``meta.versionId``: which version of the resource this is (its identity is type + id)."""
    version = (res.get("meta") or {}).get("versionId")
    return None if version is None else str(version)


def _has_value(res: Json) -> bool:
    return any(k.startswith("value") for k in res)


def _value(holder: Json) -> dict[str, Any]:
    q = holder.get("valueQuantity")
    if q is not None:
        return {
            "value": q.get("value"),
            "unit": q.get("code") or q.get("unit"),
            "unit_system": q.get("system"),
            "value_text": None,
        }
    for key in ("valueCodeableConcept",):
        if key in holder:
            return {
                "value": None,
                "unit": None,
                "unit_system": None,
                "value_text": _code_text(holder[key]),
            }
    for key in ("valueString", "valueBoolean", "valueInteger", "valueDateTime"):
        if key in holder:
            v = holder[key]
            number = float(v) if key == "valueInteger" else None
            return {
                "value": number,
                "unit": None,
                "unit_system": None,
                "value_text": None if number is not None else str(v),
            }
    return {"value": None, "unit": None, "unit_system": None, "value_text": None}


def _dose(dosage: Json | None) -> tuple[float | None, str | None, str | None]:
    if not dosage:
        return None, None, None
    route = _code_text(dosage.get("route"))
    q = dosage.get("dose") or next(
        (d.get("doseQuantity") for d in dosage.get("doseAndRate", []) if d.get("doseQuantity")),
        None,
    )
    if q is None:
        return None, None, route
    return q.get("value"), q.get("code") or q.get("unit"), route


# ---------------------------------------------------------------------------------------------


def _flatten(res: Json, full_url: str | None = None) -> Iterator[tuple[str | None, Json]]:
    yield full_url, res
    if res.get("resourceType") == "Bundle":
        for entry in res.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _flatten(entry["resource"], entry.get("fullUrl"))


def _validate(res: Json, source: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    kind = res.get("resourceType")
    if not isinstance(kind, str):
        raise InvalidInputError([Problem(None, source, str(kind), "has no resourceType: not a FHIR resource")])
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError) as err:
        raise InvalidInputError([Problem(None, source, kind, "unknown FHIR resource type")]) from err
    try:
        model.model_validate(res)
    except Exception as err:  # pydantic ValidationError
        first = str(err).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(err)
        raise InvalidInputError(
            [
                Problem(
                    None,
                    f"{source} {kind}/{res.get('id', '?')}",
                    "",
                    f"invalid FHIR R4 resource: {detail}",
                )
            ]
        ) from err


#: What walking JSON of the wrong shape raises (a list where an object belongs, a number for a
#: reference, …): with ``validate=False`` nothing has checked the shape before the walker.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, ValueError, IndexError, OverflowError)


def read_fhir_json(resource: Json, source: str = "<json>", *, validate: bool = True) -> FhirTables:
    """Tabulate one resource or Bundle given as parsed JSON.

    JSON that is not shaped as FHIR R4 (caught by validation, or met by the walker when
    ``validate=False``) raises :class:`InvalidInputError` naming the resource.
    """
    import polars as pl

    if not isinstance(resource, dict):
        what = type(resource).__name__
        raise InvalidInputError([Problem(None, source, what, "expected a JSON object (a FHIR resource)")])
    if validate:
        _validate(resource, source)
    walker = _Walker(source)
    try:
        resources = list(_flatten(resource))
        walker.index(resources)
    except _SHAPE_ERRORS as err:
        raise _shape_error(source, resource, err) from err
    for _, res in resources:
        if res.get("resourceType") == "Bundle":
            continue
        try:
            walker.add(res)
        except _SHAPE_ERRORS as err:
            raise _shape_error(source, res, err) from err
    try:
        frames = _frames(walker.rows)
    except (*_SHAPE_ERRORS, pl.exceptions.PolarsError) as err:
        raise _shape_error(source, resource, err) from err
    return FhirTables(frames, walker.skipped)


def _shape_error(source: str, res: Json, err: Exception) -> InvalidInputError:
    where = f"{source} {res.get('resourceType', '?')}/{res.get('id', '?')}"
    reason = f"not shaped as a FHIR R4 resource ({type(err).__name__}: {err}); validate=True names the field"
    return InvalidInputError([Problem(None, where, "", reason)])


def _frames(rows: dict[str, list[Json]]) -> dict[str, pl.DataFrame]:
    import polars as pl

    out = {}
    for name, columns in TABLES.items():
        schema = {c: pl.Float64 if c in _FLOAT else pl.Boolean if c in _BOOL else pl.String for c in columns}
        frame = pl.DataFrame([{c: r.get(c) for c in columns} for r in rows[name]], schema=schema, orient="row")
        dates = [pl.col(c).str.strptime(pl.Date, "%Y-%m-%d") for c in columns if c in _DATE]
        out[name] = frame.with_columns(dates) if dates else frame
    return out


def load_fhir(path: str | Path) -> FhirTables:
    """Read a FHIR R4 JSON file (resource or Bundle) or every ``*.json`` of a folder.

    Raises
    ------
    InvalidInputError
        Not UTF-8, not JSON (e.g. truncated), no ``resourceType``, or a resource that fails FHIR
        validation; the message names the file and the resource.
    """
    import polars as pl

    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    parts: list[FhirTables] = []
    for f in files:
        try:
            data = json.loads(f.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as err:
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        f.name,
                        f"byte at offset {err.start}",
                        "is not UTF-8 (FHIR JSON must be UTF-8)",
                    )
                ]
            ) from err
        except json.JSONDecodeError as err:
            raise InvalidInputError(
                [Problem(err.lineno, f.name, err.msg, "is not valid JSON (truncated file?)")]
            ) from err
        if not isinstance(data, dict):
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        f.name,
                        type(data).__name__,
                        "expected a JSON object (a FHIR resource)",
                    )
                ]
            )
        parts.append(read_fhir_json(data, f.name))
    tables = {
        name: pl.concat([t.tables[name] for t in parts]) if parts else _frames({n: [] for n in TABLES})[name]
        for name in TABLES
    }
    skipped: Counter[str] = Counter()
    for t in parts:
        skipped.update(t.skipped)
    return FhirTables(tables, skipped)
