"""What every backend stores: values that SQLite keeps but PostgreSQL refuses are bugs.

SQLite does not enforce VARCHAR lengths; PostgreSQL does. Found by the backup round trip into
PostgreSQL: bilag2004's rule version (56 characters) did not fit ``scores.rule_version``
(32), so ``remission demo --db postgresql://…`` failed while scoring.
"""

from __future__ import annotations

import pytest

from remission.indices import registry
from remission.store import schema

INDICES = list(registry().values())


@pytest.mark.parametrize("definition", INDICES, ids=[d.name for d in INDICES])
def test_index_name_and_rule_version_fit_the_scores_table(definition: object) -> None:
    from remission.indices._base import IndexDefinition

    assert isinstance(definition, IndexDefinition)
    assert len(definition.name) <= schema.scores.c.index_name.type.length  # type: ignore[attr-defined]
    assert len(definition.version) <= schema.scores.c.rule_version.type.length  # type: ignore[attr-defined]
