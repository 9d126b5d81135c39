"""``lamina push``: docker's flags and output lines."""

from __future__ import annotations

import click

from lamina.cli.context import pass_engine
from lamina.cli.progress import make_progress
from lamina.cli.trust_flags import ContentTrustCommand, content_trust_option
from lamina.engine import Engine
from lamina.model.reference import Reference


@click.command("push", cls=ContentTrustCommand)
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository")
@content_trust_option("Skip image signing")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("--remove-signatures", is_flag=True,
              help="Do not copy the signatures kept with the image")
@click.option("--sign-by", "sign_by", default=None, metavar="string",
              help="Add a GPG simple signature with this key fingerprint")
@click.option("--sign-by-sigstore-private-key", "sigstore_key", default=None, metavar="string",
              help="Sign the image with this sigstore private key file")
@click.option("--sign-passphrase-file", default=None, metavar="string",
              help="Read the passphrase of the signing key from this file")
@click.argument("name")
@pass_engine
def push(engine: Engine, all_tags: bool, disable_content_trust: bool | None, quiet: bool,
         remove_signatures: bool, sign_by: str | None, sigstore_key: str | None,
         sign_passphrase_file: str | None, name: str) -> None:
    """Upload an image to a registry"""
    from lamina.engine.trust import PushSigning

    # docker signs with Notary when content trust is on; lamina signs only when told to
    # (--sign-by-sigstore-private-key, --sign-by), so the switch changes nothing here.
    del disable_content_trust

    # Read the key (and ask its passphrase) before any byte goes up.
    signing = PushSigning(sigstore_key, sign_passphrase_file, sign_by, remove_signatures)
    ref = Reference.parse(name)
    if not all_tags and ref.is_name_only and not quiet:
        click.echo("Using default tag: latest")
    progress = make_progress(quiet)
    if progress is None:
        results = engine.push(name, all_tags=all_tags, signing=signing)
    else:
        with progress:
            results = engine.push(name, all_tags=all_tags, progress=progress,
                                  signing=signing)
    for result in results:
        if quiet:
            click.echo(str(result.reference))
        else:
            click.echo(f"{result.reference.tag}: digest: {result.digest} size: {result.size}")
