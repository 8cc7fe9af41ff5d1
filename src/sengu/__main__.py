from sengu.cli import main

main()
