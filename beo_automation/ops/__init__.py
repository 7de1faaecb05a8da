"""The operations console's reads: one overview for the admin index and GET /api/ops/overview/."""
