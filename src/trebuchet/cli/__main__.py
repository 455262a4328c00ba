from trebuchet.cli.main import main

main()
