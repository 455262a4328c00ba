"""The HTTP API: Catapult v1 resources under ``/v1/users/{userId}``."""
