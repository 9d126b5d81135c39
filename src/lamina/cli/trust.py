"""``lamina trust``: keys, and the signatures of images in registries.

    lamina trust key generate [--algorithm ecdsa-p256|ed25519] [--passphrase-file F] NAME
    lamina trust sign [--key F] [--format sig|bundle|both] [--recursive] [--sign-by FPR] IMAGE
    lamina trust inspect [--pretty] [--key F] IMAGE
    lamina trust revoke [-y] IMAGE
    lamina trust verify --key F IMAGE
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lamina.cli.commands import PflagGroup
from lamina.cli.context import pass_engine
from lamina.engine import Engine
from lamina.errors import InvalidArgument


@click.group("trust", cls=PflagGroup)
def trust() -> None:
    """Manage trust on images"""


@trust.group("key")
def key() -> None:
    """Manage keys for signing images"""


@key.command("generate")
@click.option("--algorithm", default="ecdsa-p256", show_default=True,
              type=click.Choice(["ecdsa-p256", "ed25519"]), help="Key algorithm")
@click.option("--passphrase-file", default=None, metavar="string",
              help="Read the passphrase from this file (else $LAMINA_PASSPHRASE, "
                   "$COSIGN_PASSWORD, or a prompt)")
@click.argument("name")
@pass_engine
def generate(engine: Engine, algorithm: str, passphrase_file: str | None, name: str) -> None:
    """Generate a key pair: NAME.key (encrypted, cosign's format) and NAME.pub"""
    from lamina.engine.trust import passphrase_from, write_pair

    passphrase = passphrase_from(passphrase_file, engine.settings.signatures.passphrase,
                                 confirm=True)
    key_path, pub_path = write_pair(name, algorithm, passphrase)
    click.echo(f"Private key written to {key_path}")
    click.echo(f"Public key written to {pub_path}")


def _signer(engine: Engine, key_file: str | None, passphrase_file: str | None) -> Any:
    if key_file is None:
        return None
    from lamina.engine.trust import load_signer, passphrase_from

    given = engine.settings.signatures.passphrase
    return load_signer(key_file, lambda: passphrase_from(passphrase_file, given))


@trust.command("sign")
@click.option("--key", "key_file", default=None, metavar="string",
              help="Private key file (cosign's format)")
@click.option("--passphrase-file", default=None, metavar="string",
              help="Read the key's passphrase from this file")
@click.option("--format", "fmt", default="sig", show_default=True,
              type=click.Choice(["sig", "bundle", "both"]),
              help="sig: the .sig tag; bundle: a Sigstore bundle referrer")
@click.option("--recursive", is_flag=True, help="Sign an index and each of its manifests")
@click.option("--sign-by", "gpg_key", default=None, metavar="string",
              help="Also sign with this GPG key (fingerprint), into the lookaside store")
@click.argument("image")
@pass_engine
def sign(engine: Engine, key_file: str | None, passphrase_file: str | None, fmt: str,
         recursive: bool, gpg_key: str | None, image: str) -> None:
    """Sign an image in its registry"""
    from lamina.engine import trust as verbs

    if key_file is None and gpg_key is None:
        raise InvalidArgument("trust sign: give --key (a private key) or --sign-by (GPG)")
    signer = _signer(engine, key_file, passphrase_file)
    for done in verbs.sign(image, engine.remote_options, signer, fmt=fmt, recursive=recursive,
                           gpg_key=gpg_key,
                           gpg_passphrase_file=passphrase_file if signer is None else None,
                           registries_d=engine.settings.signatures.registries_d):
        click.echo(f"Signed {done.reference} ({done.format}, as {done.identity}): {done.where}")


@trust.command("inspect")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.option("--key", "key_files", multiple=True, metavar="string",
              help="Public key(s) to check the signatures with")
@click.argument("images", nargs=-1, required=True)
@pass_engine
def inspect(engine: Engine, pretty: bool, key_files: tuple[str, ...],
            images: tuple[str, ...]) -> None:
    """Return low-level information about the signatures of images"""
    from lamina.engine import trust as verbs
    from lamina.engine.trust import load_verifier

    keys = [load_verifier(k) for k in key_files]
    out: list[dict[str, Any]] = []
    for image in images:
        rows = verbs.inspect(image, engine.remote_options, keys,
                             engine.settings.signatures.registries_d)
        out.append({"Name": image, "Signatures": rows})
    if not pretty:
        click.echo(json.dumps(out, indent=4))
        return
    for entry in out:
        click.echo(f"\nSignatures for {entry['Name']}\n")
        if not entry["Signatures"]:
            click.echo("No signatures for " + str(entry["Name"]))
            continue
        click.echo(f"{'FORMAT':<8}{'SIGNED DIGEST':<22}{'IDENTITY':<40}SIGNER")
        for row in entry["Signatures"]:
            click.echo(f"{row['Format']:<8}{row['SignedDigest'][7:19]:<22}"
                       f"{row.get('Identity', '?'):<40}{row['Signer']}")


@trust.command("revoke")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt for confirmation")
@click.argument("image")
@pass_engine
def revoke(engine: Engine, yes: bool, image: str) -> None:
    """Remove trust for an image: delete its signatures"""
    from lamina.engine import trust as verbs

    if not yes:
        # docker's prompt: "y" (any case) goes on; anything else, or no answer, aborts.
        click.echo(f"Please confirm you would like to delete all signature data for {image}? "
                   "[y/N] ", nl=False)
        if sys.stdin.readline().strip().lower() != "y":
            click.echo("\nAborting action.")
            return
    removed = verbs.revoke(image, engine.remote_options,
                           engine.settings.signatures.registries_d)
    click.echo(f"Successfully deleted signature for {image} ({removed} removed)")


@trust.command("verify")
@click.option("--key", "key_files", multiple=True, required=True, metavar="string",
              help="Public key(s)")
@click.argument("image")
@pass_engine
def verify(engine: Engine, key_files: tuple[str, ...], image: str) -> None:
    """Verify an image's signatures in its registry with a public key"""
    from lamina.engine import trust as verbs
    from lamina.engine.trust import load_verifier

    keys = [load_verifier(k) for k in key_files]
    for payload in verbs.verify(image, engine.remote_options, keys):
        click.echo(payload)
