"""The work: benchmarks, models, policies, verification and storage, as plain Python."""
