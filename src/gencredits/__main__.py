from gencredits.cli import main

main()
