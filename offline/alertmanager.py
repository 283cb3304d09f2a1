"""What Alertmanager would deliver: routing, grouping, inhibition and repeats, read from its config file.

The alert rules' backtest (:mod:`offline.rules`) produces which alerts fire at every daily step of
history; this module turns those into notifications the way Alertmanager does, with the routing tree,
``group_by``, ``repeat_interval``, ``send_resolved`` and ``inhibit_rules`` of
``deploy/alertmanager/alertmanager.yml`` (read from the file, never copied here):

- an alert goes down the route tree to the first matching child (deeper while children match, on
  to the next sibling when ``continue: true``); child routes inherit their parent's settings;
- an alert is dropped while a firing alert matching an inhibit rule's source matchers has the same
  values of its ``equal`` labels (an absent label counts as the empty value);
- per route and ``group_by`` values, a group's first firing notification is a *new* notification
  (a page for the page receiver); a firing alert joining a group that already notified is an
  *update*; while nothing changes the group is re-sent every ``repeat_interval``; when its last
  alert resolves, a *resolved* notification goes out if the receiver sends resolved ones.

Times are seconds; ``group_wait`` and ``group_interval`` (seconds in this project) are far below a
day, so at daily steps a change is delivered at the step it happens.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "AlertmanagerConfig",
    "ConfigError",
    "Matcher",
    "Notification",
    "Route",
    "load_config",
    "notifications",
    "parse_duration_seconds",
]

Labels = Mapping[str, str]


class ConfigError(ValueError):
    """The Alertmanager configuration cannot be read; the message names the file and the part."""


_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration_seconds(text: str) -> float:
    """A Prometheus duration (``4h``, ``7d``, ``1h30m``) in seconds.

    >>> parse_duration_seconds("4h"), parse_duration_seconds("1h30m"), parse_duration_seconds("7d")
    (14400.0, 5400.0, 604800.0)
    """
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text.strip():
        raise ConfigError(f"not a duration: {text!r}")
    return float(sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


@dataclasses.dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"`` (anchored)."""

    name: str
    operator: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse one matcher of a ``matchers:`` list.

        >>> Matcher.parse('severity=~"warning|info"').matches({"severity": "info"})
        True
        """
        found = re.fullmatch(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*', text)
        if found is None:
            raise ConfigError(f"not a matcher: {text!r}")
        return cls(found.group(1), found.group(2), found.group(3))

    def matches(self, labels: Labels) -> bool:
        """Whether ``labels`` satisfy this matcher (an absent label is the empty string)."""
        value = labels.get(self.name, "")
        if self.operator == "=":
            return value == self.value
        if self.operator == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.operator == "=~" else not found


def _matchers(node: Mapping[str, Any], key: str, where: str) -> tuple[Matcher, ...]:
    if "match" in node or "match_re" in node:
        raise ConfigError(f"{where}: the deprecated match/match_re are not read here; use `{key}:`")
    return tuple(Matcher.parse(str(text)) for text in node.get(key) or ())


@dataclasses.dataclass(frozen=True)
class Route:
    """One node of the routing tree, with inherited settings resolved."""

    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    repeat_interval_seconds: float
    continue_matching: bool
    routes: tuple[Route, ...]
    path: str  # e.g. "route.routes[1]": names the route in reports

    def matches(self, labels: Labels) -> bool:
        """Whether an alert with ``labels`` enters this route."""
        return all(matcher.matches(labels) for matcher in self.matchers)

    def destinations(self, labels: Labels) -> list[Route]:
        """The routes that handle an alert that entered this one (Alertmanager's tree walk)."""
        found: list[Route] = []
        for child in self.routes:
            if child.matches(labels):
                found += child.destinations(labels)
                if not child.continue_matching:
                    break
        return found or [self]


@dataclasses.dataclass(frozen=True)
class InhibitRule:
    """Source alerts silence target alerts that share the values of the ``equal`` labels."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class AlertmanagerConfig:
    """The routing tree, the receivers that send resolved notifications, and the inhibit rules."""

    route: Route
    send_resolved: dict[str, bool]
    inhibit_rules: tuple[InhibitRule, ...]
    path: Path

    def inhibited(self, labels: Labels, firing: Iterable[Labels]) -> bool:
        """Whether an alert with ``labels`` is silenced by one of the ``firing`` alerts."""
        for rule in self.inhibit_rules:
            if not all(m.matches(labels) for m in rule.target):
                continue
            for source in firing:
                if source is labels or not all(m.matches(source) for m in rule.source):
                    continue
                # Alertmanager: an alert matching both sides cannot inhibit another that also does.
                if all(m.matches(source) for m in rule.target) and all(
                    m.matches(labels) for m in rule.source
                ):
                    continue
                if all(source.get(name, "") == labels.get(name, "") for name in rule.equal):
                    return True
        return False


def _route(node: Mapping[str, Any], parent: Route | None, path: str) -> Route:
    try:
        repeat = node.get("repeat_interval")
        route = Route(
            receiver=str(node.get("receiver") or (parent.receiver if parent else "")),
            matchers=_matchers(node, "matchers", path),
            group_by=tuple(node["group_by"]) if "group_by" in node else (parent.group_by if parent else ()),
            # Alertmanager's default repeat interval is 4h.
            repeat_interval_seconds=parse_duration_seconds(str(repeat))
            if repeat
            else (parent.repeat_interval_seconds if parent else 4 * 3600.0),
            continue_matching=bool(node.get("continue", False)),
            routes=(),
            path=path,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    children = tuple(
        _route(child, route, f"{path}.routes[{i}]") for i, child in enumerate(node.get("routes") or ())
    )
    return dataclasses.replace(route, routes=children)


def load_config(path: Path) -> AlertmanagerConfig:
    """Read ``alertmanager.yml``: the routing tree, receivers' ``send_resolved``, the inhibit rules."""
    try:
        body = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the Alertmanager configuration ({exc})") from None
    if not isinstance(body, dict) or not isinstance(body.get("route"), dict):
        raise ConfigError(f"{path}: no `route:` section")
    send_resolved = {}
    for receiver in body.get("receivers") or ():
        configs = [c for key, value in receiver.items() if key.endswith("_configs") for c in value or ()]
        # Webhooks send resolved notifications unless told not to (Alertmanager's default is true).
        send_resolved[str(receiver["name"])] = any(c.get("send_resolved", True) for c in configs)
    inhibit = tuple(
        InhibitRule(
            _matchers(rule, "source_matchers", f"{path}: inhibit_rules[{i}]"),
            _matchers(rule, "target_matchers", f"{path}: inhibit_rules[{i}]"),
            tuple(rule.get("equal") or ()),
        )
        for i, rule in enumerate(body.get("inhibit_rules") or ())
    )
    return AlertmanagerConfig(_route(body["route"], None, "route"), send_resolved, inhibit, path)


@dataclasses.dataclass(frozen=True)
class Notification:
    """One message Alertmanager sends: to which receiver, for which group, when, and of which kind."""

    time_seconds: float
    receiver: str
    group: tuple[tuple[str, str], ...]  # the group_by labels and values (alertname, signal, ...)
    kind: str  # "new" (first of the group), "update" (a new alert joined), "repeat", "resolved"
    severities: tuple[str, ...]  # severities of the firing alerts it carries (empty when resolved)


@dataclasses.dataclass
class _Group:
    notified: frozenset[frozenset[tuple[str, str]]] = frozenset()
    firing: frozenset[frozenset[tuple[str, str]]] = frozenset()
    last_seconds: float = 0.0


def notifications(
    config: AlertmanagerConfig, steps: list[float], firing_at: list[list[dict[str, str]]]
) -> list[Notification]:
    """The notifications Alertmanager sends for ``firing_at[i]``, the alerts firing at ``steps[i]``.

    Each step's set is taken to hold until the next step; after the last step nothing changes (the
    alerts still firing then are not resolved, and not repeated past it).
    """
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], _Group] = {}
    out: list[Notification] = []
    for index, moment in enumerate(steps):
        alerts = firing_at[index]
        delivered = [a for a in alerts if not config.inhibited(a, alerts)]
        members: dict[tuple[str, tuple[tuple[str, str], ...]], set[frozenset[tuple[str, str]]]] = {}
        routes: dict[str, Route] = {}
        for alert in delivered:
            for route in config.route.destinations(alert):
                key = (route.path, tuple((name, alert.get(name, "")) for name in route.group_by))
                members.setdefault(key, set()).add(frozenset(alert.items()))
                routes[route.path] = route
        # Sorted: a set's order changes with the process's hash seed, and two groups notified in
        # the same step must come out in the same order every run (the generated BACKTEST.md).
        for key in sorted(set(groups) | set(members)):
            route = routes.get(key[0]) or _find(config.route, key[0])
            group = groups.setdefault(key, _Group())
            now = frozenset(members.get(key, set()))
            severities = tuple(sorted({dict(a).get("severity", "") for a in now}))
            if not now:
                if group.firing and config.send_resolved.get(route.receiver, True):
                    out.append(Notification(moment, route.receiver, key[1], "resolved", ()))
                del groups[key]
                continue
            if not group.firing:
                out.append(Notification(moment, route.receiver, key[1], "new", severities))
                group.notified, group.last_seconds = now, moment
            elif not now <= group.notified or (
                group.firing - now and config.send_resolved.get(route.receiver, True)
            ):
                out.append(Notification(moment, route.receiver, key[1], "update", severities))
                group.notified, group.last_seconds = now, moment
            group.firing = now
            until = steps[index + 1] if index + 1 < len(steps) else moment
            while group.last_seconds + route.repeat_interval_seconds < until:
                group.last_seconds += route.repeat_interval_seconds
                out.append(Notification(group.last_seconds, route.receiver, key[1], "repeat", severities))
    return out


def _find(route: Route, path: str) -> Route:
    if route.path == path:
        return route
    for child in route.routes:
        if path == child.path or path.startswith(child.path + "."):
            return _find(child, path)
    raise KeyError(path)
