"""Analysis layer: pure functions over tables (endpoints, remission over time, safety summaries)."""
