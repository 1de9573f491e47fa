"""k6 load tests: spec validation, script rendering, running, summaries and reports."""
