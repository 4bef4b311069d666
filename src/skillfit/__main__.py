from skillfit.cli import main

main()
