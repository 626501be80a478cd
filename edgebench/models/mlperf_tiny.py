"""MLPerf Tiny reference architectures (placeholder until filled in)."""
SPECS: dict = {}
