"""Treatment protocols as versioned data: drugs, doses, days, rounding and eligibility rules.

A protocol is a YAML file (``protocols/erlangen-2024.yaml`` is the default) validated by the
frozen pydantic models below. :func:`parse_protocol` is pure (a mapping in, a
:class:`Protocol` out); :func:`load_protocol` reads a file (or the shipped default) and reports
every schema problem as :class:`remission.InvalidInputError` naming the field.

Examples
--------
>>> protocol = load_protocol()
>>> protocol.name, protocol.version, [d.code for d in protocol.drugs]
('erlangen-2024', '2024.1', ['fludarabine', 'cyclophosphamide', 'car_t_cells'])
>>> protocol.drug("fludarabine").days
(-5, -4, -3)
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from remission.errors import InvalidInputError, Problem

DEFAULT_PROTOCOL = "erlangen-2024"

Unit = Literal["mg/m2", "mg/kg", "mg", "cells/kg"]
Op = Literal["==", "!=", ">=", "<=", ">", "<", "in"]
FactKind = Literal["bool", "int", "float", "category", "text"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BsaRule(_Frozen):
    """How body surface area is computed: default formula and rounding (decimals)."""

    formula: Literal["mosteller", "dubois"] = "mosteller"
    decimals: int = Field(2, ge=0, le=6)


class Drug(_Frozen):
    """One drug of a protocol: a dose per unit of body size, the days it is given, its rounding."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    role: Literal["lymphodepletion", "cell_dose", "premedication", "other"] = "other"
    dose: Decimal = Field(gt=0)
    unit: Unit
    days: tuple[int, ...]
    decimals: int = Field(0, ge=-6, le=6)
    cap: Decimal | None = Field(None, gt=0, description="maximum single dose (mg or cells)")

    @model_validator(mode="after")
    def _has_days(self) -> Drug:
        if not self.days:
            raise ValueError(f"drug {self.code}: 'days' needs at least one day")
        return self

    @property
    def dose_unit(self) -> str:
        """The unit of one computed dose (``mg`` or ``cells``)."""
        return "cells" if self.unit == "cells/kg" else "mg"


class Condition(_Frozen):
    """``fact op value``; a string value ``"$name"`` refers to an eligibility parameter."""

    fact: str
    op: Op
    value: Any


class Fact(_Frozen):
    """A patient fact the eligibility rules read: its type and allowed values."""

    kind: FactKind
    description: str = ""
    choices: tuple[str, ...] = ()


class Criterion(_Frozen):
    """One eligibility criterion: every condition of ``all`` (and of the patient's disease in
    ``by_disease``) must hold. ``text`` may use ``{parameter}`` placeholders."""

    code: str
    text: str
    all: tuple[Condition, ...] = ()
    by_disease: dict[str, tuple[Condition, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_conditions(self) -> Criterion:
        if not self.all and not self.by_disease:
            raise ValueError("a criterion needs 'all' or 'by_disease' conditions")
        return self


class Eligibility(_Frozen):
    """Eligibility rules as data: parameters (e.g. the age range), fact types and criteria."""

    parameters: dict[str, float | int | str] = Field(default_factory=dict)
    facts: dict[str, Fact] = Field(default_factory=dict)
    criteria: tuple[Criterion, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> Eligibility:
        for criterion in self.criteria:
            conditions = list(criterion.all) + [c for cs in criterion.by_disease.values() for c in cs]
            for cond in conditions:
                if cond.fact not in self.facts:
                    raise ValueError(f"criterion {criterion.code}: unknown fact {cond.fact!r}")
                if isinstance(cond.value, str) and cond.value.startswith("$") and cond.value[1:] not in self.parameters:
                    raise ValueError(f"criterion {criterion.code}: unknown parameter {cond.value!r}")
            if criterion.by_disease and "disease" not in self.facts:
                raise ValueError(f"criterion {criterion.code}: by_disease needs a 'disease' fact")
        return self


class Protocol(_Frozen):
    """A versioned treatment protocol (see ``protocols/erlangen-2024.yaml``)."""

    name: str
    version: str
    title: str = ""
    sources: tuple[str, ...] = ()
    bsa: BsaRule = BsaRule(formula="mosteller", decimals=2)
    drugs: tuple[Drug, ...]
    eligibility: Eligibility = Eligibility()

    @model_validator(mode="after")
    def _unique_drugs(self) -> Protocol:
        if not self.drugs:
            raise ValueError("a protocol needs at least one drug")
        codes = [d.code for d in self.drugs]
        dups = sorted({c for c in codes if codes.count(c) > 1})
        if dups:
            raise ValueError("drug codes must be unique; repeated: " + ", ".join(dups))
        return self

    def drug(self, code: str) -> Drug:
        """The drug called ``code``, or an InvalidInputError naming the protocol's drugs."""
        for d in self.drugs:
            if d.code == code:
                return d
        known = ", ".join(d.code for d in self.drugs)
        raise InvalidInputError([Problem(None, "protocol", self.name, f"has no drug {code!r} (drugs: {known})")])


def parse_protocol(data: Mapping[str, Any], *, source: str = "protocol") -> Protocol:
    """Validate a protocol mapping (parsed YAML); every schema problem is reported.

    Raises
    ------
    InvalidInputError
        One problem per invalid field, e.g. ``column drugs.0.dose: value -1: Input should be
        greater than 0``.

    Examples
    --------
    >>> try:
    ...     parse_protocol({"name": "x", "version": "1", "drugs": [
    ...         {"code": "flu", "name": "F", "dose": -1, "unit": "mg/m2", "days": [-3]}]})
    ... except InvalidInputError as err:
    ...     print(err)
    column protocol drugs.0.dose: value -1: Input should be greater than 0
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError([Problem(None, source, type(data).__name__, "expected a mapping (YAML object)")])
    try:
        return Protocol.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else str(value)
            problems.append(Problem(None, f"{source} {where}", shown, err["msg"]))
        raise InvalidInputError(problems) from exc


def _is_file(path: Any) -> bool:
    """``path.is_file()``, false for names the file system refuses (too long, NUL)."""
    try:
        return bool(path.is_file())
    except (OSError, ValueError):
        return False


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read and validate a protocol YAML file; ``None`` loads the shipped default protocol.

    Parameters
    ----------
    path : str or Path, optional
        A YAML file, or the name of a shipped protocol (e.g. ``"erlangen-2024"``).
    """
    import yaml

    if path is None or (isinstance(path, str) and not path.endswith((".yaml", ".yml")) and "/" not in path):
        name = DEFAULT_PROTOCOL if path is None else path
        resource = resources.files("remission.regimen") / "protocols" / f"{name}.yaml"
        if not _is_file(resource):
            raise InvalidInputError([Problem(None, "protocol", str(name), "no such shipped protocol")])
        text = resource.read_text(encoding="utf-8")
        source = f"protocol {name}"
    else:
        file = Path(path)
        if not _is_file(file):
            raise InvalidInputError([Problem(None, "protocol", str(file), "no such file")])
        text = file.read_text(encoding="utf-8")
        source = "protocol"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError([Problem(None, "protocol", str(path), f"not valid YAML ({exc})")]) from exc
    return parse_protocol(data, source=source)
