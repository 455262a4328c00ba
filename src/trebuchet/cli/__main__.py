from trebuchet.cli import run

run()
