"""`audit verify [--signatures]`: both hash chains checked here, in the client, from the entries
as stored, so that the verdict does not come from the server it checks; and, with
`--signatures`, every stored claim's and fact's signature against the agency registry."""

from __future__ import annotations

from typing import Annotated

import typer

from smartcity_th.services.common.cli_conventions import EXIT_FAILED, Output, OutputOpt, fail
from smartcity_th.services.console.chain import Verifier
from smartcity_th.services.console.cli.api import DEFAULT_URL, Api, UrlOpt
from smartcity_th.services.console.cli.output import console, print_json, progress
from smartcity_th.services.console.signatures import SignatureAudit, signing_keys_from


def verify(
    url: UrlOpt = DEFAULT_URL,
    page: Annotated[int, typer.Option(help="Entries per request")] = 500,
    signatures: Annotated[
        bool,
        typer.Option(
            "--signatures",
            help="Also re-verify the signature of every stored claim and fact against the registry",
        ),
    ] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Check both hash chains (global and per proposal); name the first broken link. With
    --signatures, re-verify every stored claim's and fact's signature too."""
    api = Api(url)
    head = api.get("/api/audit/head")
    verifier = Verifier()
    claims: SignatureAudit | None = None
    if signatures:
        registry_keys = api.get("/api/registry/signing-keys")
        claims = SignatureAudit(
            set(registry_keys["agencies"]), signing_keys_from(registry_keys["signing_keys"])
        )
    as_json = output is Output.json
    with progress(disable=as_json) as bar:
        task = bar.add_task("verifying", total=head["seq"])
        after = 0
        while True:
            entries = api.get("/api/audit/entries", after_seq=after, limit=page)
            if not entries:
                break
            broken = verifier.feed(entries)
            if claims is not None:
                claims.feed(entries)
            bar.update(task, completed=min(verifier.checked, head["seq"]))
            if broken:
                break
            after = entries[-1]["seq"]
    if as_json:
        intact = (
            not verifier.broken
            and verifier.last_seq == head["seq"]
            and (verifier.last_hash == head["hash"])
        )
        print_json(
            {
                "intact": intact,
                "checked": verifier.checked,
                "proposal_chains": len(verifier.proposal_heads),
                "first_broken_link": verifier.broken or None,
                "head": {"seq": head["seq"], "hash": head["hash"]},
                "log_ends_at": verifier.last_seq,
                "signatures": None
                if claims is None
                else {
                    "verified": claims.verified,
                    "refused": dict(claims.refused),
                    "facts": {
                        "verified": claims.facts.verified,
                        "before_cut_over": claims.facts.before_cut_over,
                        "refused": dict(claims.facts.refused),
                        "not_kept_whole": claims.facts.not_kept_whole,
                    },
                    "unexplained": sorted(claims.unexplained()),
                },
            }
        )
        if not intact or (claims is not None and claims.unexplained()):
            raise typer.Exit(EXIT_FAILED)
        return
    if verifier.broken:
        fail(
            f"[bold red]BROKEN[/bold red] first broken link: {verifier.broken} "
            f"(after {verifier.checked - 1} good entries)",
            EXIT_FAILED,
        )
    if verifier.last_seq < head["seq"] or (
        verifier.last_seq == head["seq"] and verifier.last_hash != head["hash"]
    ):
        fail(
            f"[bold red]BROKEN[/bold red] the head says entry #{head['seq']} "
            f"but the log ends at #{verifier.last_seq} (entries deleted?)",
            EXIT_FAILED,
        )
    chains = len(verifier.proposal_heads)
    console.print(
        f"[green]audit chain intact[/green]: {verifier.checked} entries, "
        f"{chains} proposal chains, head {verifier.last_hash[:16]}…"
    )
    if claims is not None:
        report_signatures(claims)


def report_signatures(claims: SignatureAudit) -> None:
    refused = ", ".join(f"{reason} {n}" for reason, n in sorted(claims.refused.items()))
    console.print(
        f"claims: [green]{claims.verified} signatures verified[/green]; "
        f"{sum(claims.refused.values())} do not verify ({refused or 'none'}), "
        f"{len(claims.failing) - len(claims.unexplained())} of them (claims and facts) "
        "refused by a service"
    )
    facts = claims.facts
    refused_facts = ", ".join(f"{reason} {n}" for reason, n in sorted(facts.refused.items()))
    console.print(
        f"facts: [green]{facts.verified} signatures verified[/green]; "
        f"{facts.before_cut_over} unsigned from before their owner's first key; "
        f"{sum(facts.refused.values())} do not verify ({refused_facts or 'none'}); "
        f"{facts.not_kept_whole} recorded before the log kept facts whole (not verifiable)"
    )
    unexplained = claims.unexplained()
    if unexplained:
        for event_id, (seq, reason) in sorted(unexplained.items(), key=lambda kv: kv[1])[:20]:
            what = "fact" if reason.startswith("fact ") else "claim"
            console.print(f"  entry #{seq} {what} {event_id}: {reason.removeprefix('fact ')}")
        fail(
            f"[bold red]UNVERIFIED[/bold red] {len(unexplained)} stored claims or facts were "
            "not refused by any service but their signatures do not verify now (a forged fact "
            "no consumer read; revoked_key: accepted while a revocation was reaching the "
            "services, or recorded late)",
            EXIT_FAILED,
        )
