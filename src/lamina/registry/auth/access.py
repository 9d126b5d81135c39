"""The access list: which account may do which actions on which resources.

The config holds a list of rules, each ``{"account": ..., "name": ..., "actions": [...]}`` and
optionally ``"type"`` ("repository", the default, or "registry" for ``registry:catalog:*``):

- ``account`` is a user name, ``"*"`` for any authenticated user, or ``"anonymous"`` for clients
  that sent no credentials;
- ``name`` is a pattern over repository names: ``*`` matches within one path component, ``**``
  matches across components, and ``${account}`` stands for the account's own name, so
  ``"${account}/**"`` gives every user a namespace of their own;
- ``actions`` are among pull, push, delete, or ``"*"`` for all of them.

Rules only ever add: what an account may do is the union of the rules that match it. An empty
list means "any authenticated user may do anything" (as the CNCF registry does with htpasswd);
``anonymous_pull`` lets clients without credentials pull every repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from lamina.errors import InvalidArgument

REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete"})
CATALOG_ACTIONS = frozenset({"*"})
ANONYMOUS = "anonymous"
ANY_USER = "*"
RESOURCE_TYPES = ("repository", "registry")


@dataclass(frozen=True)
class Scope:
    """One requested or granted resource: ``repository:team/app:pull,push``."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``type[(class)]:name:actions``; the name may itself hold colons (host:port)."""
        type_, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not type_ or not name:
            raise InvalidArgument(f"invalid scope {text!r}: expected type:name:actions")
        # Docker allows a resource class, as in "repository(plugin)"; lamina has none.
        type_ = type_.split("(", 1)[0]
        return cls(type_, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def to_claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes from the ``scope`` query parameters: each may hold several, space-separated."""
    return [Scope.parse(part) for value in values for part in value.split() if part]


@dataclass(frozen=True)
class Rule:
    account: str
    type: str
    pattern: str
    actions: frozenset[str]

    @classmethod
    def from_config(cls, entry: Mapping[str, object]) -> Rule:
        account = entry.get("account")
        name = entry.get("name")
        type_ = entry.get("type", "repository")
        actions = entry.get("actions", [])
        if not isinstance(account, str) or not account:
            raise InvalidArgument(f"access rule {dict(entry)!r}: 'account' must be a name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"access rule {dict(entry)!r}: 'name' must be a pattern")
        if type_ not in RESOURCE_TYPES:
            raise InvalidArgument(f"access rule {dict(entry)!r}: unknown type {type_!r}")
        if isinstance(actions, str):
            actions = [a.strip() for a in actions.split(",")]
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise InvalidArgument(f"access rule {dict(entry)!r}: 'actions' must be a list")
        known = REPOSITORY_ACTIONS | {"*"} if type_ == "repository" else CATALOG_ACTIONS
        unknown = set(actions) - known
        if unknown:
            raise InvalidArgument(
                f"access rule {dict(entry)!r}: unknown actions {', '.join(sorted(unknown))}"
            )
        expanded = frozenset(actions)
        if type_ == "repository" and "*" in expanded:
            expanded = REPOSITORY_ACTIONS
        return cls(account, str(type_), name, expanded)

    def applies_to(self, account: str | None) -> bool:
        if account is None:
            return self.account == ANONYMOUS
        return self.account in (ANY_USER, account)

    def matches(self, account: str | None, type_: str, name: str) -> bool:
        if type_ != self.type or not self.applies_to(account):
            return False
        pattern = self.pattern
        if "${account}" in pattern:
            if account is None:
                return False
            pattern = pattern.replace("${account}", account)
        return _compile(pattern).fullmatch(name) is not None


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


class AccessList:
    """Answers "which of these actions may this account do on this resource"."""

    def __init__(self, rules: Iterable[Rule], *, anonymous_pull: bool = False) -> None:
        self.rules = tuple(rules)
        self.anonymous_pull = anonymous_pull

    @classmethod
    def from_config(
        cls, entries: Iterable[Mapping[str, object]], *, anonymous_pull: bool = False
    ) -> AccessList:
        return cls([Rule.from_config(e) for e in entries], anonymous_pull=anonymous_pull)

    def allowed(self, account: str | None, type_: str, name: str) -> frozenset[str]:
        """Every action ``account`` (None: anonymous) may do on ``type_:name``."""
        granted: set[str] = set()
        if account is None and self.anonymous_pull and type_ == "repository":
            granted.add("pull")
        if not self.rules and account is not None:
            return REPOSITORY_ACTIONS if type_ == "repository" else CATALOG_ACTIONS
        for rule in self.rules:
            if rule.matches(account, type_, name):
                granted |= rule.actions
        return frozenset(granted)

    def grant(self, account: str | None, requested: Scope) -> Scope:
        """The part of ``requested`` that ``account`` may have: never more than was asked."""
        allowed = self.allowed(account, requested.type, requested.name)
        if requested.type == "registry":
            # "registry:catalog:*" asks for the catalog as a whole.
            actions = requested.actions & allowed
        elif "*" in requested.actions:
            # "*" asks for every action (containers/image asks so to delete): grant all allowed.
            actions = allowed & REPOSITORY_ACTIONS
        else:
            actions = requested.actions & allowed & REPOSITORY_ACTIONS
        return Scope(requested.type, requested.name, frozenset(actions))
