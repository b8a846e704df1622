"""sys.exit(eval(argv[1])): the exit status must be python's."""
import sys

sys.exit(eval(sys.argv[1]))
