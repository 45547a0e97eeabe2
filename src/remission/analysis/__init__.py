"""Analysis layer: pure table → table functions over scored data (no I/O, printing or globals)."""
