from mcburger.entrypoints.cli import main

main()
