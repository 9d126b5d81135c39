"""The filesystem steps of a stage: COPY, ADD, WORKDIR and RUN, through the build cache.

Each works out what its cache key depends on first (the expanded instruction, and for COPY and
ADD the sources' checksum), so that a cache hit does no work at all; the layer is only made on
a miss (``lamina.build.filesystem``).
"""

from __future__ import annotations

import posixpath
import re
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from lamina.build.commit import ImageState
from lamina.build.context import BuildContext
from lamina.build.copier import CopyOptions
from lamina.build.dockerfile import Node, parse_heredoc
from lamina.build.download import download
from lamina.build.filesystem import Source, copy_layer, lower_tree, run_layer, workdir_layer
from lamina.build.metadata import Change, command
from lamina.build.owners import resolve_owner
from lamina.build.rootfs import MergedTree, split_path
from lamina.build.shell import expand, expand_heredoc
from lamina.build.stages import parse_flags
from lamina.errors import BuildError
from lamina.store import LayerRecord

if TYPE_CHECKING:
    from lamina.build.builder import Builder, StageRun

_URL = re.compile(r"^(https?://|git@|git://)")


def _noop(data: dict[str, Any]) -> None:
    return None


class StepRunner:
    def __init__(self, builder: Builder) -> None:
        self.b = builder

    # --- COPY and ADD -------------------------------------------------------------------
    def copy(self, run: StageRun, node: Node, number: int, trigger: bool,
             add: bool = False) -> None:
        b = self.b
        kw = node.keyword.upper()
        flags = parse_flags(node)
        env = run.env()
        esc = b.escape
        for unsupported in ("parents", "exclude", "checksum", "keep-git-dir"):
            if unsupported in flags:
                raise node.error(f"{kw} --{unsupported} is not supported by lamina build")
        source_ctx, material, keep_owner = self._source_context(run, node, flags, env)
        chown = flags.get("chown")
        chowned: tuple[int, int] | None = None
        if isinstance(chown, str) and chown:
            chowned = resolve_owner(lower_tree(b.store, run.state), expand(chown, env, esc))
        owner = chowned or (None if keep_owner else (0, 0))
        chmod = None
        raw_chmod = flags.get("chmod")
        if isinstance(raw_chmod, str):
            text = expand(raw_chmod, env, esc)
            if not re.fullmatch(r"[0-7]{1,4}", text):
                raise node.error(f"invalid chmod parameter: {text!r} (lamina takes octal modes)")
            chmod = int(text, 8)
        heredocs = {h.name: h for h in node.heredocs}
        dest = expand(node.args[-1], env, esc)
        sources: list[Source] = []
        shown_sources: list[str] = []
        with ExitStack() as downloads:
            for word in node.args[:-1]:
                heredoc = parse_heredoc(word) if heredocs else None
                if heredoc is not None and heredoc[0] in heredocs:
                    doc = heredocs[heredoc[0]]
                    data = doc.text()
                    if doc.expand:
                        data = expand_heredoc(data, env, esc)
                    # The delimiter names the file; only its last component, so a name like
                    # "../../x" cannot lead anywhere but into the destination directory.
                    name = split_path(doc.name)
                    if not name:
                        raise node.error(f"invalid heredoc file name {doc.name!r}")
                    sources.append(Source(name[-1], data=data.encode()))
                    material.append(["heredoc", doc.name, data])
                    shown_sources.append(word)
                    continue
                path = expand(word, env, esc)
                if _URL.match(path):
                    if not add:
                        raise node.error("source can't be a URL for COPY")
                    if not path.startswith(("http://", "https://")):
                        raise node.error(f"ADD from git is not supported by lamina build: {path}")
                    got = download(path, downloads.enter_context(
                        b.store.scratch.directory("download")))
                    tree = MergedTree([got.path.parent], whiteouts=False)
                    sources.append(Source(got.name, tree, tree.lstat((got.path.name,)),
                                          unpack=False))
                    material.append(["url", path, got.digest])
                    shown_sources.append(path)
                    continue
                found = source_ctx.sources(path, kw)
                sources += [Source(name, source_ctx.tree, entry) for name, entry in found]
                if source_ctx is b.context:
                    material.append(["src", path, source_ctx.checksum(e for _, e in found)])
                else:
                    material.append(["src", path])
                shown_sources.append(path)
            ignore = source_ctx.ignore if source_ctx is b.context else None
            options = CopyOptions(owner, chmod, source_ctx.included if ignore else None,
                                  descend_excluded=bool(ignore and ignore.has_exceptions))
            flag_text = "".join(f"{f} " for f in node.flags if not f.startswith("--link"))
            created_by = f"{kw} {flag_text}{' '.join(shown_sources)} {dest} # buildkit"
            workdir = str(run.state.config.get("WorkingDir") or "/")
            state = run.state

            def make() -> LayerRecord:
                return copy_layer(b.store, state, sources, dest, workdir, options,
                                  archives=CopyOptions(chowned, chmod) if add else None,
                                  source_date_epoch=b.options.source_date_epoch)

            b.commit(run, b.shown(run, node, number, trigger), Change(created_by, _noop), make,
                     extra=[material, owner, chmod, workdir])

    def add(self, run: StageRun, node: Node, number: int, trigger: bool) -> None:
        self.copy(run, node, number, trigger, add=True)

    def _source_context(self, run: StageRun, node: Node, flags: dict[str, Any],
                        env: dict[str, str]) -> tuple[BuildContext, list[Any], bool]:
        """Where the sources come from, what identifies them, whether owners are kept."""
        b = self.b
        ref = flags.get("from")
        if not isinstance(ref, str):
            return b.context, [], False
        name = expand(ref, env, b.escape)
        stage = b.stage_ref(name, run.stage.index)
        if stage is not None:
            state = b.results[stage.index]
        else:
            if name.lower() == "scratch":
                raise node.error("COPY --from=scratch is not allowed")
            state = ImageState.load(b.store, b.resolve_image(name, None, False))
        tree = lower_tree(b.store, state)
        return BuildContext(tree), [["from", str(state.image_id), state.chain_ids]], True

    # --- WORKDIR ------------------------------------------------------------------------
    def workdir(self, run: StageRun, node: Node, number: int, trigger: bool) -> None:
        b = self.b
        path = expand(node.args[0], run.env(), b.escape)
        current = str(run.state.config.get("WorkingDir") or "/")
        path = posixpath.normpath(posixpath.join(current, path))
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        owner = None
        user = str(run.state.config.get("User") or "")
        state = run.state
        if user:
            try:
                owner = resolve_owner(lower_tree(b.store, state), user)
            except BuildError:
                owner = None

        def set_workdir(data: dict[str, Any]) -> None:
            data.setdefault("config", {})["WorkingDir"] = path

        def make() -> LayerRecord | None:
            return workdir_layer(b.store, state, path, owner, b.options.source_date_epoch)

        b.commit(run, b.shown(run, node, number, trigger), Change(f"WORKDIR {path}", set_workdir),
                 make)

    # --- RUN ----------------------------------------------------------------------------
    def run(self, run: StageRun, node: Node, number: int, trigger: bool) -> None:
        b = self.b
        flags = parse_flags(node)
        if "mount" in flags:
            raise node.error("RUN --mount is not supported by lamina build")
        security = flags.get("security")
        if security not in (None, "sandbox"):
            raise node.error(f"RUN --security={security} is not supported by lamina build")
        network = b.options.network
        wanted = flags.get("network")
        if isinstance(wanted, str) and wanted != "default":
            if wanted not in ("none", "host"):
                raise node.error(f"unsupported network mode {wanted!r}")
            network = wanted
        shell = run.shell
        argv, script = self._argv(node, shell)
        env = b.run_env(run)
        in_effect = b.args_in_effect(run)
        prefix = f"|{len(in_effect)} {' '.join(in_effect)} " if in_effect else ""
        shown_cmd = " ".join(argv) if script is None else node.args[0]
        created_by = f"RUN {prefix}{shown_cmd} # buildkit"
        state = run.state
        user = str(state.config.get("User") or "")
        workdir = str(state.config.get("WorkingDir") or "/")

        def make() -> LayerRecord | None:
            fd, done = b.output_fd()
            try:
                return run_layer(b.store, state, argv, env=env, workdir=workdir, user=user,
                                 network=network, output=fd,
                                 script=script.encode() if script is not None else None,
                                 source_date_epoch=b.options.source_date_epoch,
                                 runtime=b.options.runtime, state_root=b.options.state_root,
                                 limits=limits)
            finally:
                done()

        from lamina.runtime.step import StepLimits

        limits = StepLimits(b.options.extra_hosts, b.options.ulimits, b.options.shm_size)
        extra: list[object] = [argv, script, env, network]
        if limits != StepLimits():  # (so that builds without them keep their cache keys)
            extra.append([list(limits.extra_hosts), list(limits.rlimits), limits.shm_size])
        b.commit(run, b.shown(run, node, number, trigger), Change(created_by, _noop), make,
                 extra=extra)

    @staticmethod
    def _argv(node: Node, shell: list[str]) -> tuple[list[str], str | None]:
        """The command, and a script to run as a file (a lone heredoc with a shebang)."""
        if not node.heredocs:
            return command(node, shell), None
        if node.json:
            raise node.error("heredocs are not allowed in the JSON form of RUN")
        text = node.args[0]
        only = parse_heredoc(text.strip())
        if len(node.heredocs) == 1 and only is not None and only[0] == node.heredocs[0].name:
            content = node.heredocs[0].text()
            if content.startswith("#!"):
                return [], content
            return [*shell, content], None
        # The shell reads the heredocs itself, from the line put back together as BuildKit does.
        full = text + "".join("\n" + h.content + h.name for h in node.heredocs)
        return [*shell, full], None
