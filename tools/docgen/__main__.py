"""`python -m tools.docgen [--check | --release]`: what `make docs` runs."""

from __future__ import annotations

import argparse
import sys

import tools.docgen
from tools.docgen.artefacts import DOCS, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.docgen",
        description=tools.docgen.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail if docs/ is stale")
    parser.add_argument(
        "--release", action="store_true", help="snapshot the current schemas as released"
    )
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale()
        if out_of_date:
            print("docs/ is stale; run `make docs`:", *out_of_date, sep="\n  ", file=sys.stderr)
            return 1
        print("docs/ is up to date")
        return 0
    written = write(release=args.release)
    print(f"wrote {len(written)} file(s) in {DOCS}", *written, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
