"""Allow `python -m gcscope ...`."""

from gcscope.cli import main

if __name__ == "__main__":
    main()
