"""``lamina build``: an image from a Dockerfile.

Output (on stdout, BuildKit's plain style, one line per step): ``[2/5] RUN make`` before a step
runs (``[builder 2/5]`` in a multi-stage build), ``CACHED [2/5] RUN make`` when the build cache
has it, each step's own output after its line (``pulling NAME`` when a base image is pulled),
then ``writing image sha256:... done`` and one ``naming to docker.io/library/app:latest done``
per tag. ``-q`` prints only the image ID.
"""

from __future__ import annotations

import io
import os
import sys

import click

from lamina.cli.context import pass_engine
from lamina.cli.trust_flags import ContentTrustCommand, content_trust_option, trust_options
from lamina.engine import Engine


def _pairs(values: tuple[str, ...], what: str, *, from_env: bool) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not key:
            raise click.BadParameter(f"invalid {what} {value!r}")
        if not sep:
            if not from_env:
                pairs[key] = ""
                continue
            env = os.environ.get(key)
            if env is None:
                continue  # docker: a --build-arg NAME absent from the environment is not set
            rest = env
        pairs[key] = rest
    return pairs


@click.command("build", cls=ContentTrustCommand)
@click.argument("context", metavar="PATH | -")
@click.option("-t", "--tag", "tags", multiple=True, metavar="list",
              help='Name and optionally a tag in the "name:tag" format')
@click.option("-f", "--file", "dockerfile", default=None, metavar="string",
              help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
@click.option("--build-arg", "build_args", multiple=True, metavar="list",
              help="Set build-time variables")
@click.option("--target", default=None, metavar="string",
              help="Set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image")
@click.option("--label", "labels", multiple=True, metavar="list",
              help="Set metadata for an image")
@click.option("-q", "--quiet", is_flag=True,
              help="Suppress the build output and print image ID on success")
@click.option("--iidfile", default=None, metavar="string",
              help="Write the image ID to the file")
@click.option("--network", default="host", metavar="string",
              help="Set the networking mode for the RUN instructions during build "
                   "(host or none)")
@content_trust_option()
@click.option("--platform", default=None, metavar="string",
              help="Set platform if server is multi-platform capable")
@click.option("--add-host", "add_hosts", multiple=True, metavar="list",
              help="Add a custom host-to-IP mapping (host:ip)")
@click.option("--cache-from", "cache_from", multiple=True, metavar="strings",
              help="Images to consider as cache sources")
@click.option("--rm", "remove", is_flag=True, default=True,
              help="Remove intermediate containers after a successful build (default true)")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers")
@click.option("--ulimit", "ulimits", multiple=True, metavar="ulimit", help="Ulimit options")
@click.option("--shm-size", default=None, metavar="bytes", help="Size of /dev/shm")
@pass_engine
def build(engine: Engine, context: str, tags: tuple[str, ...], dockerfile: str | None,
          build_args: tuple[str, ...], target: str | None, no_cache: bool, pull: bool,
          labels: tuple[str, ...], quiet: bool, iidfile: str | None, network: str,
          platform: str | None, add_hosts: tuple[str, ...], cache_from: tuple[str, ...],
          remove: bool, force_rm: bool, ulimits: tuple[str, ...], shm_size: str | None,
          disable_content_trust: bool | None) -> None:
    """Build an image from a Dockerfile"""
    from lamina.engine.build import BuildRequest, build_image

    # --rm and --force-rm are accepted as docker's: a RUN step's container never outlives
    # its step here, whether the step succeeds or fails.
    del remove, force_rm
    # FROM pulls under the signature policy, as pull does.
    engine.trust_options = trust_options(disable_content_trust)

    request = BuildRequest(
        context=context, dockerfile=dockerfile, tags=tags,
        build_args=_pairs(build_args, "build-arg", from_env=True), target=target,
        no_cache=no_cache, pull=pull, labels=_pairs(labels, "label", from_env=False),
        network=network, platform=platform, add_hosts=add_hosts, cache_from=cache_from,
        ulimits=ulimits, shm_size=shm_size,
    )
    out = io.StringIO() if quiet else sys.stdout
    stdin = sys.stdin.buffer if context == "-" or dockerfile == "-" else None
    result = build_image(engine, request, out=out, stdin=stdin)
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(str(result.image_id))
    if quiet:
        click.echo(str(result.image_id))
        return
    click.echo(f"writing image {result.image_id} done")
    for ref in result.tags:
        click.echo(f"naming to {ref} done")
