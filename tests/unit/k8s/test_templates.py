"""Unit tests of the template engine: Go-template translation, every function, the sandbox and its limits,
and what ``spec.target.template`` (data, metadata, templateFrom, mergePolicy) makes of fetched values."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

import pytest

from config_manager.k8s.spec.managedsecret import InvalidSpecError, parse_managed_secret
from config_manager.k8s.write.template import TemplateError, render
from config_manager.k8s.write.template.apply import apply_template
from config_manager.k8s.write.template.functions import FUNCTIONS, LACKING
from config_manager.k8s.write.template.golang import translate

SECRET = "s3cr3t-Value"
VALUES = {"user": "app", "password": SECRET, "my-key": "dashed", "tls.crt": "CERT", "n": "3",
          "json": '{"db": {"host": "h", "ports": [1, 2]}, "tags": ["a", "b"]}', "blank": "", "b64": "aGk="}


def r(template: str, values: dict[str, Any] | None = None) -> str:
    return render(template, VALUES if values is None else values, field="spec.target.template.data[k]")


def refused(template: str, values: dict[str, Any] | None = None) -> str:
    with pytest.raises(TemplateError) as err:
        r(template, values)
    message = str(err.value)
    assert "spec.target.template.data[k]" in message
    assert SECRET not in message and "dashed" not in message, "an error never carries a value"
    return message


# -- the Go-template forms ESO users write ----------------------------------------------------------------

@pytest.mark.parametrize("template,expected", [
    ("{{ .user }}", "app"),
    ("{{.user}}", "app"),
    ("{{ .user | upper }}", "APP"),
    ("{{ upper .user }}", "APP"),
    ('{{ .user | replace "a" "A" }}', "App"),
    ('{{ replace "a" "A" .user }}', "App"),
    ('{{ index . "my-key" }}', "dashed"),
    ("{{ .my-key }}", "dashed"),
    ("{{ .tls.crt }}", "CERT"),  # a key with a dot, as the first template syntax allowed
    ("a {{- .user -}} b", "aappb"),
    ("a\n  {{- .user }}\n", "aapp\n"),
    ("x {{ .user -}}\n\n y", "x appy"),
    ('{{ if eq .user "app" }}yes{{ else }}no{{ end }}', "yes"),
    ('{{ if .blank }}a{{ else if .user }}b{{ else }}c{{ end }}', "b"),
    ("{{ range $k, $v := (.json | fromJson).db }}{{ $k }};{{ end }}", "host;ports;"),
    ("{{ range $i, $t := (.json | fromJson).tags }}{{ $i }}{{ $t }}{{ end }}", "0a1b"),
    ("{{ range (.json | fromJson).tags }}[{{ . }}]{{ end }}", "[a][b]"),
    ("{{ range $t := (.json | fromJson).tags }}{{ $t }}{{ . }}{{ end }}", "aabb"),
    ("{{ range (list) }}x{{ else }}empty{{ end }}", "empty"),
    ("{{ range until 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}", "012"),
    ("{{ with .user }}<{{ . }}>{{ end }}{{ with .blank }}x{{ else }}none{{ end }}", "<app>none"),
    ("{{ $u := .user }}{{ range until 2 }}{{ $u }}{{ end }}", "appapp"),
    ("{{ $u := 1 }}{{ $u = 2 }}{{ $u }}", "2"),
    ("{{ range $k, $v := . }}{{ if eq $k \"user\" }}{{ $.n }}{{ end }}{{ end }}", "3"),
    ('{{ "tab\\there \\"q\\" \\u00e9 \\x41 \\101" }}', 'tab\there "q" é A A'),
    ("{{ `raw \\n {{ not a template` }}", "raw \\n {{ not a template"),
    ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
    ("{{ (.json | fromJson).db.host }}", "h"),
    ("{{ and .user .blank }}|{{ or .blank .user }}|{{ not .blank }}", "|app|true"),
    ("{{ 1 }} {{ 2.5 }} {{ true }} {{ 0x10 }} {{ 010 }} {{ -3 }}", "1 2.5 true 16 8 -3"),
    ("{%  not jinja %} {# nor this #}", "{%  not jinja %} {# nor this #}"),
])
def test_go_template_forms(template: str, expected: str) -> None:
    assert r(template) == expected


@pytest.mark.parametrize("template,message", [
    ("{{ .missing }}", "refers to 'missing', which was not fetched"),
    ('{{ index . "../../proc/self/environ" }}', "refers to '../../proc/self/environ', which was not fetched"),
    ("{{ .user | shell }}", "unknown filter 'shell'"),
    ('{{ exec "rm" }}', "unsupported placeholder: unknown function 'exec'"),
    ("{{ .user | b64dec }}", "function 'b64dec' failed"),
    ("{{ if .user }}x", "missing {{ end }}"),
    ("{{ end }}", "without an open"),
    ("{{ else }}", "without an open"),
    ('{{ define "x" }}y{{ end }}', "{{ define }} is not supported"),
    ('{{ template "x" }}', "{{ template }} is not supported"),
    ("{{ $nope }}", "undefined variable $nope"),
    ("{{ $x := 1 }}{{ range until 2 }}{{ $x = 2 }}{{ end }}", "declared outside it, is not supported"),
    ("{{ .user", "unclosed action"),
    ('{{ "open }}', "unterminated string"),
    ("{{ 'c' }}", "character constants"),
    ("{{ .user .password }}", "can't give an argument to a non-function"),
    ("{{ .user | }}", "a function must follow '|'"),
    ("{{ ( .user }}", "missing ')'"),
    ("{{ break }}", "outside a range"),
    ('{{ "\\q" }}', "unknown escape"),
    ("{{ upper }}", "function 'upper' got the wrong number of arguments"),
    ("{{ (.json | fromJson).db.nope }}", "has no field 'nope'"),
    ("{{ .user.sub }}", "has no field 'sub'"),
    ("{{ range .user }}x{{ end }}", "can only range over"),
    ('{{ required "need it" .blank }}', "function 'required' found no value"),
    ('{{ fail "boom" }}', "function 'fail' was called"),
    ("{{ 09 }}", "bad number"),
    ('{{ mul 4294967296 4294967296 }}', "function 'mul' failed"),
    ("{{ div 1 0 }}", "function 'div' failed"),
])
def test_template_errors_name_the_key_and_the_function_never_a_value(template: str, message: str) -> None:
    assert message in refused(template)


# -- functions -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template,expected", [
    ("{{ .password | b64enc }}", base64.b64encode(SECRET.encode()).decode()),
    ("{{ .b64 | b64dec }}", "hi"),
    ('{{ "aGk=\\n" | b64dec }}', "hi"),
    ("{{ .user | b32enc | b32dec }}", "app"),
    ("{{ .user | sha256sum }}", hashlib.sha256(b"app").hexdigest()),
    ("{{ .user | sha1sum | len }}", "40"),
    ("{{ .user | sha512sum | len }}", "128"),
    ("{{ .user | adler32sum }}", str(zlib.adler32(b"app"))),
    ('{{ dict "b" 1 "a" "<x>" | toJson }}', '{"a":"\\u003cx\\u003e","b":1}'),
    ('{{ dict "a" "<x>" | toRawJson }}', '{"a":"<x>"}'),
    ('{{ dict "a" 1 | toPrettyJson }}', '{\n  "a": 1\n}'),
    ("{{ (.json | fromJson).tags | toJson }}", '["a","b"]'),
    ("{{ (.json | fromJson).db | toYaml }}", "host: h\nports:\n- 1\n- 2"),
    ('{{ ("a: 1\\nb: [x]" | fromYaml).b | first }}', "x"),
    ('{{ default "d" .blank }}|{{ default "d" .user }}|{{ .blank | default "e" }}', "d|app|e"),
    ("{{ .user | required }}", "app"),
    ("{{ .user | upper | lower }}", "app"),
    ('{{ "  x \\n" | trim }}', "x"),
    ('{{ .user | quote }}|{{ .user | squote }}|{{ "a\\"b\\n" | quote }}', '"app"|\'app\'|"a\\"b\\n"'),
    ('{{ split "," "a,b" | toJson }}|{{ (split "," "a,b")._1 }}', '{"_0":"a","_1":"b"}|b'),
    ('{{ splitList "," "a,b" | join "+" }}', "a+b"),
    ('{{ "a\\nb" | indent 2 }}|{{ "a" | nindent 2 }}', "  a\n  b|\n  a"),
    ("{{ 12 | toString }}|{{ true | toString }}", "12|true"),
    ('{{ .user | trimPrefix "a" | trimSuffix "p" }}|{{ "xxaxx" | trimAll "x" }}', "p|a"),
    ('{{ contains "pp" .user }}{{ hasPrefix "a" .user }}{{ hasSuffix "z" .user }}', "truetruefalse"),
    ('{{ .user | title }}|{{ "a b  c" | nospace }}|{{ .user | trunc 2 }}|{{ substr 1 3 .user }}', "App|abc|ap|pp"),
    ('{{ repeat 3 "ab" }}|{{ cat "a" 1 nil "b" }}', "ababab|a 1 b"),
    ('{{ printf "%s=%d %q %v %05d %x %%" .user 7 "q" (list 1 2) 42 255 }}', 'app=7 "q" [1 2] 00042 ff %'),
    ('{{ "a b&c/é" | urlquery }}|{{ "<a href=\'x\'>" | html }}', "a+b%26c%2F%C3%A9|&lt;a href=&#39;x&#39;&gt;"),
    ('{{ print "a" 1 2 "b" }}|{{ println "x" 1 }}', "a1 2b|x 1\n"),
    ('{{ len .user }}|{{ len (list 1 2) }}|{{ index (list "a" "b") 1 }}|{{ get . "absent" }}|{{ index (dict) "absent" }}', "3|2|b||"),
    ('{{ eq .n "3" }}{{ ne 1 2 }}{{ lt 1 2 }}{{ le 2 2 }}{{ gt 1 2 }}{{ ge 2 3 }}{{ eq 1 2 1 }}', "truetruetruetruefalsefalsetrue"),
    ('{{ $d := dict "k" "v" }}{{ get $d "k" }}{{ hasKey $d "k" }}{{ keys $d | join "," }}{{ values $d | join "," }}', "vtruekv"),
    ('{{ list "b" "a" "b" | uniq | sortAlpha | join "" }}|{{ list 1 2 | last }}|{{ has 2 (list 1 2) }}', "ab|2|true"),
    ('{{ coalesce "" .blank "c" }}|{{ ternary "y" "n" true }}|{{ empty .blank }}', "c|y|true"),
    ('{{ int "42" | add1 }}|{{ add 1 2 3 }}|{{ sub 5 2 }}|{{ mul 2 3 }}|{{ div 7 2 }}|{{ mod 7 2 }}|{{ max 1 5 2 }}|{{ min 4 2 }}',
     "43|6|3|6|3|1|5|2"),
    ('{{ .user | nosuchfn }}', None),
    ('{{ int "42" }}|{{ atoi "x" }}|{{ float64 "1.5" }}|{{ int 2.9 }}', "42|0|1.5|2"),
])
def test_functions(template: str, expected: str | None) -> None:
    if expected is None:
        assert "unknown filter 'nosuchfn'" in refused(template)
    else:
        assert r(template) == expected


def test_binary_values_travel_as_bytes() -> None:
    raw = bytes(range(256))
    out = r("{{ .bin | b64dec }}", {"bin": base64.b64encode(raw).decode()})
    assert out.encode("utf-8", "surrogateescape") == raw
    assert r("{{ .bin | b64dec | b64enc }}", {"bin": base64.b64encode(raw).decode()}) == base64.b64encode(raw).decode()


def test_every_function_in_the_table_is_named_as_sprig_or_eso_spell_it() -> None:
    for name in ("toJson", "fromJson", "toYaml", "fromYaml", "b64enc", "b64dec", "sha256sum", "default", "required",
                 "upper", "lower", "trim", "quote", "replace", "split", "join", "indent", "nindent", "toString",
                 "filterPEM", "pkcs12cert", "pkcs12key", "pkcs12certPass", "pkcs12keyPass", "fullPemToPkcs12",
                 "fullPemToPkcs12Pass", "pemToPkcs12", "jwkPublicKeyPem", "jwkPrivateKeyPem"):
        assert name in FUNCTIONS, name
    assert not set(FUNCTIONS) & set(LACKING)
    assert "env" in LACKING and "expandenv" in LACKING


# -- the sandbox: nothing of Python, the environment or the files; bounded work ---------------------------

@pytest.mark.parametrize("template", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ self.__init__ }}",
    "{{ config }}",
    '{{ env "HOME" }}',
    '{{ expandenv "$HOME" }}',
    '{{ readFile "/etc/passwd" }}',
    '{{ include "x" . }}',
    '{{ lookup "v1" "Secret" "kube-system" "x" }}',
    '{{ getHostByName "example" }}',
    "{{ .__class__ }}",
    "{{ (.json | fromJson).__class__ }}",
    "{{ $.__init__ }}",
    '{{ index . "__class__" }}x',
    "{{ printf \"%s\" . | fromJson }}",
])
def test_reaching_for_python_the_environment_or_files_is_refused(template: str) -> None:
    try:
        out = r(template)
    except TemplateError as exc:
        assert SECRET not in str(exc)
        return
    assert "class" not in out and "environ" not in out and "root:" not in out, "only values, never Python objects"


@pytest.mark.parametrize("template,message", [
    ("{{ range until 10000 }}{{ range until 10000 }}{{ end }}{{ end }}", "loop iterations"),
    ("{{ range until 100000 }}x{{ end }}", "more than 10000 items"),
    ('{{ repeat 2000000 "x" }}', "a string longer than"),
    ('{{ $s := repeat 1000000 "x" }}{{ $s }}{{ $s }}', "output longer than"),
    ('{{ "x" | indent 2000000 }}', "a string longer than"),
    ('{{ $s := repeat 1000000 "x" }}{{ replace "x" "yy" $s }}', "a string longer than"),
    ('{{ $s := repeat 1000000 "x" }}{{ range until 100 }}{{ $s | sha256sum }}{{ end }}', "characters of work"),
    ('{{ $s := repeat 500000 "x" }}{{ list $s $s $s | toJson }}', "a value larger than"),
    ("{{ " + "(" * 40 + ".user" + ")" * 40 + " }}", "nested deeper"),
    ("{{ if .user }}" * 40 + "{{ end }}" * 40, "nested deeper"),
])
def test_huge_or_deep_templates_are_refused(template: str, message: str) -> None:
    assert message in refused(template)


def test_yaml_aliases_are_refused() -> None:
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]'
    assert "function 'fromYaml' failed" in refused("{{ .doc | fromYaml | toJson }}", {"doc": bomb})


def test_translation_holds_no_user_text() -> None:
    source = translate('pre {{ .user | replace "}}{% x %}" "{{ y }}" }} post').source
    assert "pre" not in source and "{% x %}" not in source and "user" not in source


# -- spec.target.template as a whole --------------------------------------------------------------------

def spec_template(template: dict[str, Any]) -> Any:
    spec = parse_managed_secret("m", {"storeRef": {"name": "s"}, "data": [{"secretKey": "a", "remoteRef": {"key": "a"}}],
                                      "target": {"template": template}})
    assert spec.target.template is not None
    return spec.target.template


DATA = {"user": b"app", "password": SECRET.encode(), "team": b"Payments"}


def test_replace_writes_only_the_template_merge_keeps_the_fetched_keys() -> None:
    replace = apply_template(spec_template({"data": {"url": "db://{{ .user }}"}}), DATA, {})
    assert replace.data == {"url": b"db://app"}
    merge = apply_template(spec_template({"mergePolicy": "Merge", "data": {"user": "{{ .user | upper }}"}}), DATA, {})
    assert merge.data == {**DATA, "user": b"APP"}
    metadata_only = apply_template(spec_template({"metadata": {"labels": {"fixed": "yes"}}}), DATA, {})
    assert metadata_only.data == DATA and metadata_only.labels == {"fixed": "yes"}


def test_values_reach_labels_and_annotations_only_where_templated() -> None:
    out = apply_template(spec_template({
        "data": {"k": "{{ .password }}"},
        "metadata": {"labels": {"team": "{{ .team | lower }}"}, "annotations": {"checksum": "{{ .password | sha256sum }}"}},
    }), DATA, {})
    assert out.labels == {"team": "payments"}
    assert list(out.annotations) == ["checksum"] and SECRET not in out.annotations["checksum"]
    assert SECRET not in json.dumps([out.labels, out.annotations])


def test_template_from_configmap_secret_and_literal() -> None:
    template = spec_template({
        "templateFrom": [
            {"configMap": {"name": "tpl", "items": [{"key": "app.conf"}, {"key": "extra", "templateAs": "KeysAndValues"}]}},
            {"secret": {"name": "tpl-s", "items": [{"key": "labels", "templateAs": "KeysAndValues"}]}, "target": "Labels"},
            {"literal": "note: user is {{ .user }}", "target": "Annotations"},
            {"literal": "app.conf: overridden-by-data-below"},
        ],
        "data": {"app.conf": "final {{ .user }}"},
    })
    assert template.sources() == [("ConfigMap", "tpl"), ("Secret", "tpl-s")]
    sources = {("ConfigMap", "tpl"): {"app.conf": "user={{ .user }}", "extra": "a: '{{ .user }}'\nb: 2"},
               ("Secret", "tpl-s"): {"labels": "team: {{ .team | lower }}"}}
    out = apply_template(template, DATA, sources)
    assert out.data == {"app.conf": b"final app", "a": b"app", "b": b"2"}
    assert out.labels == {"team": "payments"} and out.annotations == {"note": "user is app"}


@pytest.mark.parametrize("template,sources,field", [
    ({"templateFrom": [{"configMap": {"name": "gone", "items": [{"key": "k"}]}}]}, {},
     "spec.target.template.templateFrom[0].configMap.name"),
    ({"templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "nokey"}]}}]}, {("ConfigMap", "tpl"): {"k": "x"}},
     "spec.target.template.templateFrom[0].configMap.items[0].key"),
    ({"templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "k"}]}}]}, {("ConfigMap", "tpl"): {"k": "{{ .nope }}"}},
     "spec.target.template.templateFrom[0].configMap.items[0][k]"),
    ({"templateFrom": [{"literal": "{{ .password }}"}]}, {}, "spec.target.template.templateFrom[0].literal"),
    ({"templateFrom": [{"literal": "k: [{{ .password }}]"}]}, {}, "spec.target.template.templateFrom[0].literal"),
    ({"templateFrom": [{"literal": "configmanager.io/x: y", "target": "Annotations"}]}, {}, "spec.target.template.templateFrom[0].literal"),
    ({"metadata": {"labels": {"l": "{{ .password }} with spaces"}}}, {}, "spec.target.template.metadata.labels[l]"),
    ({"templateFrom": [{"literal": "'{{ .password }}': v"}]}, {}, "spec.target.template.templateFrom[0].literal"),
])
def test_template_from_errors_name_the_field(template: dict[str, Any], sources: Any, field: str) -> None:
    with pytest.raises(TemplateError) as err:
        apply_template(spec_template(template), {**DATA, "password": b"s3cr3t Value!"}, sources)
    assert str(err.value).startswith(field + ":"), str(err.value)
    assert "s3cr3t" not in str(err.value)


@pytest.mark.parametrize("template,field", [
    ({"engineVersion": "v1"}, "spec.target.template.engineVersion"),
    ({"templateFrom": [{"configMap": {"name": "x", "items": [{"key": "k"}]}, "literal": "a"}]}, "spec.target.template.templateFrom[0]"),
    ({"templateFrom": [{"configMap": {"name": "x"}}]}, "spec.target.template.templateFrom[0].configMap.items"),
    ({"templateFrom": [{"configMap": {"name": "x", "items": [{"key": "k", "templateAs": "Both"}]}}]},
     "spec.target.template.templateFrom[0].configMap.items[0].templateAs"),
    ({"templateFrom": [{"literal": "a: b", "target": "Status"}]}, "spec.target.template.templateFrom[0].target"),
])
def test_bad_template_specs_are_refused_naming_the_field(template: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        spec_template(template)
    assert err.value.field == field
