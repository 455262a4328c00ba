"""Pure messaging rules shared by the API, the store and the engine (no I/O)."""
