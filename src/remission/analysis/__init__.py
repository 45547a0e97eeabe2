"""Analysis layer: cohort- and patient-level summaries computed from typed tables (pure polars)."""
