"""Analysis layer: pure derivations over scored visits (no I/O, printing or globals)."""
