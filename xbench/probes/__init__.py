"""Crosslingual capability probes: translation quality (``mt-eval``) and embedding similarity (``embed``)."""
