"""Outbound networking shared by callbacks, media fetches and carriers."""
