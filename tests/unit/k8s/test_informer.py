"""The informers' list/watch logic (watch.informer) and the rule of the by-name watches (watch.targets),
against a scripted transport: pagination, a 410 on a continue token restarting the list (the restart bug),
watching from the list's version, bookmarks, relist on 410 with only the changes delivered; list pages
decoded without managedFields and otherwise unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config_manager.k8s.api.decode import _array_end, decode, decode_list
from config_manager.k8s.api.resources import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from config_manager.k8s.watch.cache import ClusterCache
from config_manager.k8s.watch.informer import Gone, Informer, NotServed, Refused, Scope
from config_manager.k8s.watch.targets import NamedWatches, wanted


def obj(name: str, rv: str, ns: str = "a") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "resourceVersion": rv}}


class Script:
    """Answers list pages from ``lists`` (one list = pages; an exception instead of a page is raised) and
    watches from ``watches`` (events; an exception is raised); records what was asked."""

    def __init__(self, lists: list[list[Any]], watches: list[list[Any]]) -> None:
        self.lists, self.watches = lists, watches
        self.page_calls: list[str | None] = []
        self.watch_from: list[str] = []
        self._page = 0

    async def list_page(self, scope: Scope, limit: int, cont: str | None) -> dict[str, Any]:
        self.page_calls.append(cont)
        if cont is None:
            self._pages = self.lists.pop(0)
            self._page = 0
        page = self._pages[self._page]
        self._page += 1
        if isinstance(page, Exception):
            raise page
        items, nxt, rv = page
        return {"items": items, "metadata": {"continue": nxt, "resourceVersion": rv}}

    async def watch(self, scope: Scope, resource_version: str, timeout: int) -> AsyncIterator[dict[str, Any]]:
        self.watch_from.append(resource_version)
        if not self.watches:
            await asyncio.Event().wait()  # a quiet stream
        for event in self.watches.pop(0):
            if isinstance(event, Exception):
                raise event
            yield event


def run_until(informer: Informer, done: Any) -> None:
    async def main() -> None:
        task = asyncio.create_task(informer.run())
        for _ in range(200):
            await asyncio.sleep(0)
            if done():
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def recording() -> tuple[list[tuple[str | None, str]], Any]:
    seen: list[tuple[str | None, str]] = []
    return seen, lambda etype, body: seen.append((etype, body["metadata"]["name"]))


def test_a_410_on_the_continue_token_restarts_the_list_and_the_informer_lives_on() -> None:
    script = Script(lists=[[([obj("x", "1")], "c1", ""), Gone("expired")],
                           [([obj("x", "1")], "c2", ""), ([obj("y", "2")], None, "10")]],
                    watches=[[{"type": "ADDED", "object": obj("z", "11")}]])
    seen, handler = recording()
    informer = Informer(script, Scope("secrets"), handler, kind="Secret")
    run_until(informer, lambda: ("ADDED", "z") in seen)
    assert script.page_calls == [None, "c1", None, "c2"]
    assert seen == [(None, "x"), (None, "y"), ("ADDED", "z")], "x delivered once although listed twice"
    assert informer.synced.is_set() and informer.relists == 1
    assert script.watch_from[0] == "10", "the watch starts at the list's resourceVersion"


def test_bookmarks_move_the_version_and_a_410_relists_delivering_only_changes() -> None:
    script = Script(lists=[[([obj("x", "1"), obj("y", "2")], None, "5")],
                           [([obj("x", "1"), obj("w", "30")], None, "31")]],
                    watches=[[{"type": "BOOKMARK", "object": obj("", "20")},
                              {"type": "ERROR", "object": {"code": 410, "message": "too old"}}],
                             [{"type": "MODIFIED", "object": obj("x", "32")}]])
    seen, handler = recording()
    informer = Informer(script, Scope("secrets"), handler, kind="Secret")
    run_until(informer, lambda: ("MODIFIED", "x") in seen)
    assert seen == [(None, "x"), (None, "y"), ("ADDED", "w"), ("DELETED", "y"), ("MODIFIED", "x")]
    assert script.watch_from[:2] == ["5", "31"]


def test_the_same_version_is_delivered_once_and_handler_errors_do_not_stop_it() -> None:
    calls: list[str] = []

    def handler(etype: str | None, body: dict[str, Any]) -> None:
        calls.append(str(etype))
        if etype is None:
            raise ValueError("bad object")
    script = Script(lists=[[([obj("x", "1")], None, "1")]],
                    watches=[[{"type": "MODIFIED", "object": obj("x", "1")}, {"type": "MODIFIED", "object": obj("x", "2")}]])
    informer = Informer(script, Scope("secrets"), handler, kind="Secret")
    run_until(informer, lambda: "MODIFIED" in calls)
    assert calls == ["None", "MODIFIED"]


def _secret(name: str, labelled: bool) -> dict[str, Any]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE} if labelled else {}
    return {"kind": "Secret", "metadata": {"namespace": "a", "name": name, "resourceVersion": "1", "labels": labels}}


@pytest.mark.parametrize(("cached", "owner", "watched"), [
    (None, ("SecretStore", "a", "s"), True),  # a credential not there yet: watched so its creation is seen
    (False, ("SecretStore", "a", "s"), True),  # an unlabelled credential
    (True, ("ManagedSecret", "a", "m"), False),  # our output, covered by the labelled informer
    (None, ("ManagedSecret", "a", "m"), False),  # our output before we create it
])
def test_which_objects_are_watched_by_name(cached: bool | None, owner: tuple[str, str, str], watched: bool) -> None:
    cache = ClusterCache()
    if cached is not None:
        cache.put_object(_secret("t", cached))
    cache.set_watches(owner, [("a", "Secret", "t")])
    bodies = {("ManagedSecret", "a", "m"): {"metadata": {"name": "m"}, "spec": {"target": {"name": "t"}}}}
    assert (("a", "Secret", "t") in wanted(cache, bodies.get)) is watched


def test_a_merge_target_is_watched_by_name_even_before_it_exists() -> None:
    cache = ClusterCache()
    cache.set_watches(("ManagedSecret", "a", "m"), [("a", "Secret", "t")])
    body = {"metadata": {"name": "m"}, "spec": {"target": {"name": "t", "creationPolicy": "Merge"}}}
    assert wanted(cache, {("ManagedSecret", "a", "m"): body}.get) == {("a", "Secret", "t")}


def test_named_watches_follow_changes_and_stop_when_the_object_gets_our_label() -> None:
    cache = ClusterCache()
    script = Script(lists=[[([], None, "1")], [([], None, "1")]], watches=[])

    async def main() -> list[set[tuple[str, str, str]]]:
        named = NamedWatches(script, cache, lambda kind: lambda etype, body: None, lambda owner: None)
        seen = []
        cache.set_watches(("SecretStore", "a", "s"), [("a", "Secret", "cred")])
        await named.sync()
        seen.append(set(named.informers))
        cache.put_object(_secret("cred", True))  # now labelled: the labelled informer covers it
        named.update()
        seen.append(set(named.informers))
        cache.put_object(_secret("cred", False))
        named.update()
        cache.set_watches(("SecretStore", "a", "s"), [])
        named.update()
        seen.append(set(named.informers))
        assert cache.get_object("Secret", "a", "cred") is None, "an unwatched unlabelled object is not kept (it would go stale)"
        return seen

    assert asyncio.run(main()) == [{("a", "Secret", "cred")}, set(), set()]


def test_a_seeded_informer_reports_a_deletion_that_happened_before_it_listed() -> None:
    script = Script(lists=[[([obj("y", "3")], None, "5")]], watches=[])
    seen, handler = recording()
    informer = Informer(script, Scope("configmaps"), handler, kind="ConfigMap", first_sight=False,
                        known={("a", "x"): "1", ("a", "y"): "2"})
    run_until(informer, lambda: informer.synced.is_set())
    assert seen == [("MODIFIED", "y"), ("DELETED", "x")]


def test_a_resource_not_served_counts_as_synced_and_empty() -> None:
    class Raising(Script):
        async def list_page(self, scope: Scope, limit: int, cont: str | None) -> dict[str, Any]:
            raise NotServed(scope.resource)
    seen, handler = recording()
    informer = Informer(Raising([], []), Scope("passwords"), handler, kind="Password")
    run_until(informer, lambda: informer.synced.is_set())
    assert informer.synced.is_set() and seen == []


def test_a_refused_watch_is_retried_and_its_warning_says_what_the_apiserver_answered(
        caplog: pytest.LogCaptureFixture) -> None:
    script = Script(lists=[[([obj("x", "1")], None, "5")]],
                    watches=[[Refused("watch pushsecrets in bench: 404 Not Found")],
                             [{"type": "ADDED", "object": obj("y", "6")}]])
    seen, handler = recording()
    informer = Informer(script, Scope("pushsecrets", "bench"), handler, kind="PushSecret")
    informer.retry_delay = 0.0
    with caplog.at_level("WARNING", logger="config_manager.k8s.watch.informer"):
        run_until(informer, lambda: ("ADDED", "y") in seen)
    assert seen == [(None, "x"), ("ADDED", "y")] and script.watch_from[:2] == ["5", "5"], "watched again from the same version"
    assert "404 Not Found" in caplog.text, "the warning names the apiserver's answer, not only the exception type"


# -- answers decoded without managedFields (api.decode) -------------------------------

def _without_managed_fields(page: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(page))
    for item in out.get("items") or []:
        item.get("metadata", {}).pop("managedFields", None)
    return out


MANAGED_FIELDS = [{"manager": "config-manager", "operation": "Update", "fieldsType": "FieldsV1",
                   "fieldsV1": {"f:metadata": {"f:labels": {".": {}, 'f:a"]b': {}}},
                                "f:status": {'k:{"type":"Ready"}': {".": {}}, "v:\"x]\\\\\"": {}, "f:[": {}}}},
                  {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {"f:k": {}}}}]


def _item(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "a", "managedFields": MANAGED_FIELDS, "labels": {"x": "]["}},
            "spec": {"note": 'a "managedFields":[1] in a string', "list": [1, [2, "]"]]}, **extra}


@pytest.mark.parametrize("layout", ["metadata first (core types)", "items first (custom resources)"])
def test_a_list_page_is_decoded_without_managed_fields_and_otherwise_the_same(layout: str) -> None:
    page = {"kind": "SecretList", "metadata": {"resourceVersion": "9", "continue": "c"},
            "items": [_item("x"), _item("y", data={"k": "dg=="})]}
    if layout.startswith("items"):
        page = {"items": page["items"], "kind": "SecretList", "metadata": page["metadata"]}
    raw = json.dumps(page, separators=(",", ":")).encode()
    assert decode_list(raw) == _without_managed_fields(page)


@pytest.mark.parametrize("odd", [
    {"spec": {"managedFields": [1, 2]}},  # a field of that name elsewhere: kept, the page decoded whole
    {"metadata": {"name": "z", "namespace": "a"}},  # an item without managedFields
])
def test_a_page_that_cannot_be_cut_exactly_is_decoded_whole(odd: dict[str, Any]) -> None:
    page = {"metadata": {"resourceVersion": "9"}, "items": [_item("x"), {**_item("z"), **odd}]}
    raw = json.dumps(page, separators=(",", ":")).encode()
    assert decode_list(raw) == json.loads(raw)


TRICKY = st.text(alphabet=st.sampled_from('a[]"\\{}:,é\n') | st.characters(exclude_categories=("Cs",)), max_size=8)  # what JSON escapes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(TRICKY, st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3), max_leaves=8),
    max_size=4), max_size=4), st.booleans())
def test_decoding_without_managed_fields_never_changes_anything_else(specs: list[dict[str, Any]], compact: bool) -> None:
    page = {"metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": f"o{i}", "managedFields": [{"fieldsV1": spec}]}, "spec": spec}
                      for i, spec in enumerate(specs)]}
    raw = json.dumps(page, separators=(",", ":") if compact else None, ensure_ascii=False).encode()
    decoded = decode_list(raw)
    assert decoded == _without_managed_fields(page) or decoded == json.loads(raw)
    if compact:
        assert decoded == _without_managed_fields(page), "the apiserver's compact JSON is always cut"


@pytest.mark.parametrize("content", [
    '{"a":{}}', '{"k:{\\"t\\":\\"R\\"}":{}}', '{"x\\\\":{},"y]":{}}', '{"v:\\"]\\"":{}}', '{"a":[[1],"]"]}', '',
])
def test_the_end_of_an_array_is_found_outside_strings(content: str) -> None:
    raw = f'{{"managedFields":[{content}],"name":"n"}}'.encode()
    start = raw.index(b"[") + 1
    assert raw[_array_end(raw, start):] == b',"name":"n"}'
    assert json.loads(raw)  # each case is valid JSON


def test_an_object_and_a_watch_event_are_decoded_without_their_managed_fields() -> None:
    obj = _item("x", data={"k": "dg=="})
    raw = json.dumps(obj, separators=(",", ":")).encode()
    assert decode(raw) == _without_managed_fields({"items": [obj]})["items"][0]
    event = {"type": "MODIFIED", "object": obj}
    decoded = decode(json.dumps(event, separators=(",", ":")).encode())
    assert decoded["type"] == "MODIFIED" and "managedFields" not in decoded["object"]["metadata"]
    assert decoded["object"]["spec"] == obj["spec"] and decoded["object"]["metadata"]["labels"] == {"x": "]["}
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Secret", "metadata": {"resourceVersion": "12"}}}
    assert decode(json.dumps(bookmark).encode()) == bookmark, "nothing to cut: decoded as it is"
    nested = {"metadata": {"name": "n"}, "spec": {"template": {"metadata": {"managedFields": [{}]}}}}
    assert decode(json.dumps(nested, separators=(",", ":")).encode()) == nested, "not the object's own: kept"


def test_the_operators_client_decodes_answers_without_managed_fields_and_the_default_one_keeps_them() -> None:
    from config_manager.k8s.api.client import KubeApi

    class Direct:
        def request(self, *_: object) -> tuple[int, str, bytes]:
            return 200, "OK", json.dumps(_item("x"), separators=(",", ":")).encode()

    for lean, present in ((True, False), (False, True)):
        api = KubeApi(None, lean=lean)  # type: ignore[arg-type]
        api._direct = Direct()  # type: ignore[assignment]
        answer = api.request("get", "GET", "secrets", "/api/v1/namespaces/a/secrets/x")
        assert ("managedFields" in answer["metadata"]) is present and answer["metadata"]["name"] == "x"
