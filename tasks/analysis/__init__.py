"""Analysis over the run store: statistics for the named queries (``stats``), the query runner
with its Python post-steps (``named``), the self-contained HTML report (``html``) and the
training-data export (``export``)."""
