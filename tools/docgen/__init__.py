"""Generate the published artefacts in `docs/` from the contracts and the services' FastStream apps.

    python -m tools.docgen            # write docs/ (what `make docs` runs)
    python -m tools.docgen --check    # exit 1, listing stale files, if docs/ is out of date
    python -m tools.docgen --release  # also snapshot the schemas as the released ones

Artefacts: `docs/schemas/<EventType>.json` (the envelope with that payload) and `DeadLetter.json`,
`docs/asyncapi/<service>.json` (AsyncAPI 3.0 of each service), `docs/events.md` (the integrators'
guide, from `templates/events.md.j2`) and the ACL table in `docs/security.md`. Output is
deterministic (sorted keys, no timestamps), so a stale file is a real change. This package lives
outside the product packages: `contracts` never depends on it nor on the services.
"""
