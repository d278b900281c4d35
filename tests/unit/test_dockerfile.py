"""operator/Dockerfile, checked as text (no Docker engine here to build it).

Why: the image cannot be built in this environment, so the properties the chart relies on are pinned by
reading the file: a pinned base, two stages with only the virtual environment copied into the final
one, a numeric non-root user matching the chart's runAsUser, and the entry point the chart runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "operator" / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.strip().startswith("#")]


def test_base_image_is_pinned_to_an_exact_python_311_slim_tag() -> None:
    arg = next(i for i in INSTRUCTIONS if i.startswith("ARG PYTHON_IMAGE="))
    image = arg.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), image
    froms = [i for i in INSTRUCTIONS if i.startswith("FROM ")]
    assert len(froms) == 2 and all("${PYTHON_IMAGE}" in f for f in froms)


def test_final_stage_gets_only_the_virtual_environment() -> None:
    final = INSTRUCTIONS[INSTRUCTIONS.index(next(i for i in INSTRUCTIONS if i.startswith("FROM ") and " AS " not in i)):]
    copies = [i for i in final if i.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]
    assert not any(re.search(r"apt-get|gcc|build-essential", i) for i in final)
    build = INSTRUCTIONS[:INSTRUCTIONS.index(final[0])]
    assert any('pip install ".[all]"' in i for i in build)


def test_runs_as_the_charts_numeric_non_root_user() -> None:
    user = [i for i in INSTRUCTIONS if i.startswith("USER ")]
    assert user == ["USER 65532:65532"]
    values = yaml.safe_load((REPO / "charts" / "config-manager" / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == values["podSecurityContext"]["runAsUser"] == 65532


def test_entry_point_is_the_operator_module_the_chart_runs() -> None:
    assert 'ENTRYPOINT ["python", "-m", "config_manager.k8s"]' in INSTRUCTIONS
    deployment = (REPO / "charts" / "config-manager" / "templates" / "deployment.yaml").read_text()
    assert 'command: ["python", "-m", "config_manager.k8s"]' in deployment
