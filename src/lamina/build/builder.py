"""The builder: a Dockerfile's stages, step by step, into images of the store.

Stages the target does not need (through ``FROM <stage>`` or ``COPY --from``) are skipped.
Each step makes an image whose parent is the previous step's, as docker's builder does: one
layer for a step that changes files (RUN, COPY, ADD, WORKDIR making its directory), none for
the others (their history entry says ``empty_layer``).

The build cache: every step has a key, the digest of its parent image's ID, the instruction
with its variables expanded, the build args in effect and, for COPY and ADD, a checksum of
the sources' paths, modes and contents. A key seen before names the image that step made then;
using it costs nothing (no container, no copy). ``--no-cache`` builds every step again (and
still records the keys).

Progress goes to ``out``, one line per step: ``[2/5] RUN make`` (``[name 2/5]`` in a
multi-stage build), ``CACHED [2/5] RUN make`` on a cache hit, followed by the step's output.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lamina.build.commit import ImageState, commit_image
from lamina.build.context import BuildContext
from lamina.build.dockerfile import Node, parse
from lamina.build.metadata import Change, change_for, command, set_env
from lamina.build.shell import expand
from lamina.build.stages import Stage, plan
from lamina.build.steps import StepRunner
from lamina.errors import BuildError, LaminaError, NotFound
from lamina.image.mutate import timestamp
from lamina.model.digest import Digest
from lamina.model.platform import Platform
from lamina.store import LayerRecord, Store

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Build args usable without an ARG line, and left out of history (docker's list).
PREDEFINED_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                   "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")

# (name, platform, always pull) -> the ID of a base image in the store.
ImageResolver = Callable[[str, "str | None", bool], Digest]


@dataclass
class BuildOptions:
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str = "host"
    source_date_epoch: int | None = None
    runtime: str | None = None  # RUN's OCI runtime (None: runc, else crun)
    state_root: Path | None = None  # where the runtime keeps its state (RUN needs it)
    platform: str | None = None  # --platform: the stages' (FROM --platform overrides)
    extra_hosts: tuple[tuple[str, str], ...] = ()  # --add-host, for RUN steps
    ulimits: tuple[tuple[str, int, int], ...] = ()  # --ulimit, for RUN steps
    shm_size: int | None = None  # --shm-size, for RUN steps
    cache_from: tuple[Digest, ...] = ()  # --cache-from images: their steps may be reused


@dataclass
class StageRun:
    """A stage being built: its image so far, the ARGs in effect, whether CMD was set."""

    stage: Stage
    state: ImageState
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False
    total: int = 0

    def env(self) -> dict[str, str]:
        """What variables expand to: build args in effect, then the image's ENV over them."""
        env = dict(self.args)
        for item in self.state.config.get("Env") or []:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    @property
    def shell(self) -> list[str]:
        return list(self.state.config.get("Shell") or DEFAULT_SHELL)


class Builder:
    def __init__(self, store: Store, context: BuildContext, options: BuildOptions,
                 resolve_image: ImageResolver, out: TextIO) -> None:
        self.store = store
        self.context = context
        self.options = options
        self.resolve_image = resolve_image
        self.out = out
        self.cache = store.build_cache
        self.results: dict[int, ImageState] = {}
        self.used_args: set[str] = set()
        self.platform = Platform.parse(options.platform) if options.platform else \
            Platform.host()
        self.steps = StepRunner(self)

    # --- output -------------------------------------------------------------------------
    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def label(self, run: StageRun, number: int) -> str:
        name = f"{run.stage.display} " if len(self.plan.stages) > 1 else ""
        return f"[{name}{number}/{run.total}]"

    def output_fd(self) -> tuple[int, Callable[[], None]]:
        """A descriptor for a step's output, copied to ``out``; call the function when done."""
        read_fd, write_fd = os.pipe()

        def pump() -> None:
            with os.fdopen(read_fd, "rb") as stream:
                while data := stream.read1(65536):
                    self.out.write(data.decode("utf-8", "replace"))
                    self.out.flush()

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()

        def done() -> None:
            os.close(write_fd)
            thread.join()

        return write_fd, done

    # --- the build ----------------------------------------------------------------------
    def build(self, text: str) -> Digest:
        dockerfile = parse(text)
        for warning in dockerfile.warnings:
            self.say(f"[Warning] {warning}")
        self.plan = plan(dockerfile)
        self.escape = self.plan.escape
        self.global_args = self._global_args()
        target = self._target()
        needed = self._needed(target)
        for stage in self.plan.stages:
            if stage.index in needed:
                self.results[stage.index] = self._stage(stage)
        state = self.results[target.index]
        if self.options.labels or state.image_id is None:
            labels = dict(self.options.labels)

            def add_labels(data: dict[str, Any]) -> None:
                cfg = data.setdefault("config", {})
                cfg["Labels"] = {**(cfg.get("Labels") or {}), **labels}

            change = Change("LABEL " + " ".join(f"{k}={v}" for k, v in sorted(labels.items())),
                            add_labels if labels else lambda data: None)
            run = StageRun(target, state)
            self.commit(run, "--label", change, None, history=False)
            state = run.state
        unused = sorted(set(self.options.build_args) - self.used_args - set(PREDEFINED_ARGS)
                        - {"SOURCE_DATE_EPOCH"})
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        assert state.image_id is not None
        return state.image_id

    def _global_args(self) -> dict[str, str]:
        p = self.platform
        args = {
            "BUILDPLATFORM": str(p), "BUILDOS": p.os, "BUILDARCH": p.architecture,
            "BUILDVARIANT": p.variant or "", "TARGETPLATFORM": str(p), "TARGETOS": p.os,
            "TARGETARCH": p.architecture, "TARGETVARIANT": p.variant or "",
        }
        automatic = dict(args)  # "ARG TARGETARCH" keeps its value, as in BuildKit
        for node in self.plan.meta_args:
            for name, value in self._arg_values(node, args, automatic):
                if value is not None:
                    args[name] = value
                else:
                    args.pop(name, None)
        return args

    def _arg_values(self, node: Node, env: Mapping[str, str], inherited: Mapping[str, str]
                    ) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for word in node.args:
            name, sep, default = word.partition("=")
            if not name:
                raise node.error("ARG names can not be blank")
            self.used_args.add(name)
            if name in self.options.build_args:
                out.append((name, self.options.build_args[name]))
            elif sep:
                out.append((name, expand(default, env, self.escape)))
            else:
                out.append((name, inherited.get(name)))
        return out

    def _target(self) -> Stage:
        if self.options.target is None:
            return self.plan.stages[-1]
        for stage in self.plan.stages:
            if stage.name == self.options.target.lower():
                return stage
        raise BuildError(f'target stage "{self.options.target}" could not be found')

    def stage_ref(self, text: str, before: int) -> Stage | None:
        """The stage ``text`` names (a name or an index) among those before ``before``."""
        lower = text.lower()
        for stage in self.plan.stages[:before]:
            if stage.name == lower or (text.isdigit() and int(text) == stage.index):
                return stage
        return None

    def _needed(self, target: Stage) -> set[int]:
        needed: set[int] = set()
        todo = [target]
        while todo:
            stage = todo.pop()
            if stage.index in needed:
                continue
            needed.add(stage.index)
            refs = [expand(stage.base, self.global_args, self.escape)]
            for node in stage.instructions:
                for flag in node.flags:
                    if node.keyword == "copy" and flag.startswith("--from="):
                        refs.append(expand(flag[7:], self.global_args, self.escape))
            for ref in refs:
                found = self.stage_ref(ref, stage.index)
                if found is not None:
                    todo.append(found)
        return needed

    def _stage(self, stage: Stage) -> ImageState:
        base = expand(stage.base, self.global_args, self.escape)
        platform = (expand(stage.platform, self.global_args, self.escape)
                    if stage.platform else self.options.platform)
        if not base:
            raise stage.node.error("base name (" + stage.base + ") should not be blank")
        run = StageRun(stage, ImageState({}), total=1 + len(stage.instructions))
        shown = f"FROM {base}" + (f" AS {stage.name}" if stage.name else "")
        self.say(f"{self.label(run, 1)} {shown}")
        parent = self.stage_ref(base, stage.index)
        if parent is not None:
            run.state = self.results[parent.index].copy()
        elif base.lower() == "scratch":
            run.state = self._scratch()
        else:
            run.state = ImageState.load(self.store,
                                        self.resolve_image(base, platform, self.options.pull))
        env = run.state.config.get("Env") or []
        if not any(item.startswith("PATH=") for item in env):
            # BuildKit gives every stage a PATH (the image keeps it once a step commits).
            run.state.config["Env"] = [f"PATH={DEFAULT_PATH}", *env]
        triggers = run.state.config.pop("OnBuild", None) or []
        for trigger in triggers:
            nodes = parse(trigger).nodes
            if len(nodes) != 1 or nodes[0].keyword in ("onbuild", "from", "maintainer"):
                raise BuildError(f"invalid ONBUILD trigger in the base image: {trigger}")
            self.say(f"{self.label(run, 1)} ONBUILD {trigger}")
            self.step(run, nodes[0], 1, trigger=True)
        for number, node in enumerate(stage.instructions, start=2):
            self.step(run, node, number)
        return run.state

    def _scratch(self) -> ImageState:
        p = self.platform
        data: dict[str, Any] = {"architecture": p.architecture, "os": p.os}
        if p.variant:
            data["variant"] = p.variant
        data["config"] = {}
        data["rootfs"] = {"type": "layers", "diff_ids": []}
        data["history"] = []
        return ImageState(data)

    # --- steps --------------------------------------------------------------------------
    def step(self, run: StageRun, node: Node, number: int, *, trigger: bool = False) -> None:
        kw = node.keyword
        if kw == "arg":
            self._arg(run, node, number)
        elif kw in ("run", "copy", "add", "workdir"):
            getattr(self.steps, kw)(run, node, number, trigger)
        else:
            change = change_for(node, run.env(), self.escape, run.shell, run.cmd_set)
            if kw == "cmd":
                run.cmd_set = True
            self.commit(run, self.shown(run, node, number, trigger), change, None)

    def shown(self, run: StageRun, node: Node, number: int, trigger: bool) -> str:
        text = " ".join(node.original.split())
        return "" if trigger else f"{self.label(run, number)} {text}"

    def _arg(self, run: StageRun, node: Node, number: int) -> None:
        values = self._arg_values(node, run.env(), self.global_args)
        shown = []
        for name, value in values:
            if value is None:
                run.args.pop(name, None)
                shown.append(name)
            else:
                run.args[name] = value
                shown.append(f"{name}={value}")
        change = Change("ARG " + " ".join(shown), lambda data: None)
        self.commit(run, self.shown(run, node, number, False), change, None)

    def args_in_effect(self, run: StageRun) -> list[str]:
        env_names = {e.partition("=")[0] for e in run.state.config.get("Env") or []}
        return [f"{k}={v}" for k, v in sorted(run.args.items()) if k not in env_names]

    def cache_key(self, run: StageRun, created_by: str, extra: Any) -> str:
        parent = str(run.state.image_id) if run.state.image_id else f"scratch:{self.platform}"
        if run.state.image_id is None:
            parent += json.dumps(run.state.data, sort_keys=True)
        material = json.dumps([parent, created_by, sorted(run.args.items()), extra])
        return hashlib.sha256(material.encode()).hexdigest()

    def commit(self, run: StageRun, shown: str, change: Change,
               make_layer: Callable[[], LayerRecord | None] | None, *, extra: Any = None,
               history: bool = True) -> None:
        """One step through the cache: reuse the image its key names, or make it."""
        key = self.cache_key(run, change.created_by, extra)
        if not self.options.no_cache:
            hit = self._held(self.cache.get(key))
            if hit is not None:
                if shown:
                    self.say(f"CACHED {shown}")
                run.state = ImageState.load(self.store, hit)
                return
        reused = self.reused_layer(run, change.created_by) if make_layer is not None else None
        if shown:
            self.say(f"CACHED {shown}" if reused else shown)
        if reused is not None:
            layer = reused[0]
        else:
            layer = make_layer() if make_layer is not None else None
        state = run.state.copy()
        change.apply(state.data)
        run.state = commit_image(self.store, state, created=self.created(),
                                 created_by=change.created_by, layer=layer, history=history)
        assert run.state.image_id is not None
        self.cache.put(key, run.state.image_id)

    def _held(self, image_id: Digest | None) -> Digest | None:
        """A cached step's image, held by the build's block (lamina.store.holds) so that it
        stays until the build is done; None if another process removed it meanwhile."""
        hold = self.store.holds.current
        if image_id is None or hold is None:
            return image_id
        try:
            return hold.resolve(str(image_id)).id
        except NotFound:
            return None

    def reused_layer(self, run: StageRun, created_by: str
                     ) -> tuple[LayerRecord | None] | None:
        """--cache-from: the layer (or no layer) the next step made in one of those images,
        when the stage so far is the start of that image (same layers, same history) and its
        next step is this one. Only RUN steps qualify: their history line says all they
        depend on besides the layers below, unlike COPY's (the files' content)."""
        if not self.options.cache_from or self.options.no_cache or \
                not created_by.startswith("RUN "):
            return None
        ours = list(run.state.data.get("history") or [])
        for image_id in self.options.cache_from:
            try:
                theirs = ImageState.load(self.store, image_id)
            except LaminaError:
                continue
            history = theirs.data.get("history") or []
            if len(history) <= len(ours) or len(theirs.layers) < len(run.state.layers):
                continue
            same = all(_history_key(a) == _history_key(b) for a, b in zip(ours, history[:len(ours)], strict=True))
            if not same or theirs.chain_ids[:len(run.state.layers)] != run.state.chain_ids:
                continue
            step = history[len(ours)]
            if step.get("created_by") != created_by:
                continue
            if step.get("empty_layer"):
                return (None,)
            if len(theirs.layers) > len(run.state.layers):
                return (theirs.layers[len(run.state.layers)],)
        return None

    def created(self) -> str:
        return timestamp(self.options.source_date_epoch)

    def run_env(self, run: StageRun) -> list[str]:
        env = list(run.state.config.get("Env") or [])
        names = {e.partition("=")[0] for e in env}
        for key, value in sorted(run.args.items()):
            if key not in names:
                env.append(f"{key}={value}")
        for key in PREDEFINED_ARGS:
            if key in self.options.build_args and key not in names and key not in run.args:
                env.append(f"{key}={self.options.build_args[key]}")
        if "PATH" not in names:
            env.insert(0, f"PATH={DEFAULT_PATH}")
        return env


def _history_key(entry: dict[str, Any]) -> tuple[Any, Any]:
    return entry.get("created_by"), bool(entry.get("empty_layer"))


__all__ = ["BuildOptions", "Builder", "StageRun", "command", "set_env"]
