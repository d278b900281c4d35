"""The local node's pure parts: image archives, the CNI and containerd configs, the node option.

Why: the node e2e tests need root and minutes; these catch a broken archive layout or a lost setting
(the ones these machines need: restrict_oom_score_adj, cgroupfs, the default route) in milliseconds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import tarfile
from pathlib import Path

import pytest

from config_manager.devcluster import ControlPlaneError, LocalControlPlane
from config_manager.devcluster.images import ImageConfig, layer_from_dir, write_archive
from config_manager.devcluster.network import PodNetwork
from config_manager.devcluster.runtime import containerd_config


def test_write_archive_is_a_docker_archive_whose_layers_match_their_diff_ids(tmp_path: Path) -> None:
    layers = []
    for i in range(2):
        root = tmp_path / f"root{i}"
        (root / "etc").mkdir(parents=True)
        (root / "etc" / f"file{i}").write_text(f"layer {i}")
        layers.append(layer_from_dir(root, tmp_path / f"layer{i}.tar"))
    out = write_archive(tmp_path / "image.tar", "example:1", layers,
                        ImageConfig(entrypoint=["/bin/app"], user="65532:65532", env=["A=1"]))
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["example:1"]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        for name, diff_id in zip(manifest[0]["Layers"], config["rootfs"]["diff_ids"], strict=True):
            data = tar.extractfile(name).read()  # type: ignore[union-attr]
            assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert config["config"]["User"] == "65532:65532" and config["config"]["Entrypoint"] == ["/bin/app"]
    assert config["config"]["Env"] == ["A=1"] and len(config["rootfs"]["diff_ids"]) == 2


def test_cni_config_puts_pods_on_our_bridge_with_a_default_route(tmp_path: Path) -> None:
    network = PodNetwork(bridge="cm7", subnet=ipaddress.IPv4Network("10.244.7.0/24"))
    config = json.loads(network.cni_config(tmp_path / "ipam"))
    bridge = config["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "cm7" and bridge["isGateway"] is True
    assert bridge["ipMasq"] is False, "no NAT rules outside the ones the harness names"
    ipam = bridge["ipam"]
    assert ipam["ranges"] == [[{"subnet": "10.244.7.0/24", "gateway": "10.244.7.1"}]]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0"}], "without it Pods cannot reach the Service ClusterIP"
    assert ipam["dataDir"] == str(tmp_path / "ipam")
    assert network.gateway == "10.244.7.1" and network.chain == "CM-SVC-CM7"


def test_containerd_config_keeps_everything_in_the_node_folder_with_the_settings_these_machines_need(tmp_path: Path) -> None:
    text = containerd_config(tmp_path, tmp_path / "cni", "config-manager-pause:1")
    assert "restrict_oom_score_adj = true" in text, "no CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj"
    assert "SystemdCgroup = false" in text and 'snapshotter = "overlayfs"' in text
    assert f'address = "{tmp_path / "containerd.sock"}"' in text
    assert "netns_mounts_under_state_dir = true" in text
    assert 'sandbox_image = "config-manager-pause:1"' in text
    assert all(line.split("=", 1)[1].strip().strip('"').startswith(str(tmp_path))
               for line in text.splitlines() if line.strip().startswith(("root =", "state =", "Root =")))


def test_a_local_cluster_has_no_node_or_one() -> None:
    with pytest.raises(ControlPlaneError, match="nodes=2"):
        LocalControlPlane(nodes=2)
