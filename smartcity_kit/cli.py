"""`smartcity-kit`: the integrator kit's command line.

    smartcity-kit keygen AGENCY --out DIR [--passphrase-env VAR] [--output json]

makes the agency's own Ed25519 signing key pair on the agency's machine: the private key stays in
DIR (mode 0600, encrypted with the passphrase in the environment variable VAR when given); the
public key file (`*.pub.pem`) goes to the registry's admin, who registers it with
`smartcity-admin signing-key register AGENCY --public-key FILE`. Exit codes as the other
commands: 0 ok, 1 failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from smartcity_th.contracts.common import is_agency_id
from smartcity_th.kit.keys import generate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartcity-kit", description="The Smart City Thailand integrator kit."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser(
        "keygen",
        help="make the agency's own signing key pair (the admin registers only the public key)",
    )
    keygen.add_argument("agency", help="the agency's id in the registry, e.g. lg-udon-thani-city")
    keygen.add_argument("--out", type=Path, required=True, help="folder for the two key files")
    keygen.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="encrypt the private key with the passphrase in this environment variable",
    )
    keygen.add_argument("--output", "-o", choices=("text", "json"), default="text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not is_agency_id(args.agency):
        print(f"smartcity-kit: error: {args.agency!r} is not an agency id", file=sys.stderr)
        return 2
    passphrase = None
    if args.passphrase_env:
        value = os.environ.get(args.passphrase_env)
        if not value:
            print(f"smartcity-kit: error: ${args.passphrase_env} is not set", file=sys.stderr)
            return 2
        passphrase = value.encode("utf-8")
    try:
        pair = generate(args.agency, args.out, passphrase)
    except OSError as exc:
        print(f"smartcity-kit: error: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(
            json.dumps(
                {
                    "agency": args.agency,
                    "key_id": pair.key_id,
                    "private_key": str(pair.private_key),
                    "public_key": str(pair.public_key),
                    "encrypted": passphrase is not None,
                }
            )
        )
    else:
        print(f"signing key {pair.key_id}")
        print(f"private key (keep it here): {pair.private_key}")
        print(f"public key (send it to the registry's admin): {pair.public_key}")
        print(
            f"the admin runs: smartcity-admin signing-key register {args.agency} "
            f"--public-key {pair.public_key.name}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
