"""The web console: server-rendered pages over the store and the API's own services,
mounted at ``/console`` by :func:`trebuchet.server.console.app.with_console`."""
