"""The shared training loop: `python train.py --model NAME --dataset NAME`.

Not available yet: it arrives with the train.py issue, once the zoo and the datasets exist.
"""

import sys


def main(argv=None):
    del argv
    print("train.py: the shared training loop is not implemented yet (it needs zoo/ and "
          "datasets/). Nothing was trained.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
