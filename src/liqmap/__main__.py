from liqmap.cli import main

main()
