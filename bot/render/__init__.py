"""Pure functions: a feature's result -> Block Kit blocks and fallback text. No I/O here."""
