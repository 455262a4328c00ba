"""The ``trebuchet`` command line: a thin shell over the server library."""
