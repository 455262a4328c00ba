"""Callbacks: building, signing, guarding and sending event requests; the dispatcher."""
