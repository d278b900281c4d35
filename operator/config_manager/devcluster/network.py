"""The node's Pod network: a Linux bridge of our own with a private /24, and one DNAT chain.

The bridge exists before the apiserver starts, because the apiserver binds its gateway address: it is
the one host address Pods can reach. CNI's ``bridge`` + ``host-local`` plugins put each Pod on the
bridge; a NAT chain of ours routes the ``kubernetes`` Service's ClusterIP to the apiserver, so the
in-cluster configuration of a Pod works unchanged (this replaces kube-proxy for the one Service Pods
need; other Services are reached through the apiserver's service proxy). ``delete()`` removes the
chain, its jump and the bridge; nothing outside the names chosen here is touched.
"""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigManagerError

POOL = ipaddress.IPv4Network("10.244.0.0/16")


class NetworkError(ConfigManagerError):
    """The bridge or its NAT rules could not be set up; the message quotes the failing command."""


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - argv is ours
    if check and result.returncode != 0:
        raise NetworkError(f"network: `{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _used_networks() -> list[ipaddress.IPv4Network]:
    routes = _run(["ip", "-4", "-o", "route", "show"]).stdout.splitlines()
    used = []
    for line in routes:
        first = line.split()[0]
        if first != "default":
            used.append(ipaddress.IPv4Network(first, strict=False))
    return used


@dataclass
class PodNetwork:
    """One bridge and its subnet; ``create()`` then ``delete()``."""

    bridge: str
    subnet: ipaddress.IPv4Network
    created: bool = False

    @classmethod
    def choose(cls) -> PodNetwork:
        """A bridge name and a /24 of 10.244.0.0/16 that no route on this machine uses yet."""
        used = _used_networks()
        candidates = list(POOL.subnets(new_prefix=24))
        random.shuffle(candidates)
        for subnet in candidates:
            if not any(subnet.overlaps(u) for u in used):
                return cls(bridge=f"cm{subnet.network_address.packed[2]}", subnet=subnet)
        raise NetworkError(f"network: every /24 of {POOL} is in use on this machine")

    @property
    def gateway(self) -> str:
        """The bridge's own address: the Pods' gateway, and where the apiserver listens."""
        return str(self.subnet.network_address + 1)

    @property
    def chain(self) -> str:
        return f"CM-SVC-{self.bridge.upper()}"

    def create(self) -> None:
        """Create the bridge with the gateway address, up."""
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.created = True
        _run(["ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def route_service(self, cluster_ip: str, port: int, target_port: int) -> None:
        """DNAT ``cluster_ip:port`` seen on the bridge to the gateway's ``target_port`` (the apiserver)."""
        _run(["iptables", "-w", "-t", "nat", "-N", self.chain])
        _run(["iptables", "-w", "-t", "nat", "-A", self.chain, "-d", f"{cluster_ip}/32", "-p", "tcp",
              "--dport", str(port), "-j", "DNAT", "--to-destination", f"{self.gateway}:{target_port}"])
        _run(["iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", self.bridge, "-j", self.chain])

    def cni_config(self, ipam_dir: Path) -> str:
        """A CNI conflist putting Pods on this bridge with addresses of its subnet."""
        return json.dumps({
            "cniVersion": "0.4.0",
            "name": f"cm-{self.bridge}",
            "plugins": [
                {
                    "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local", "dataDir": str(ipam_dir),
                        "ranges": [[{"subnet": str(self.subnet), "gateway": self.gateway}]],
                        # The default route via the bridge: how a Pod reaches the Service ClusterIPs.
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
            ],
        }, indent=2)

    def delete(self) -> list[str]:
        """Remove the NAT jump, the chain and the bridge; returns what could not be removed."""
        problems = []
        while _run(["iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-i", self.bridge, "-j", self.chain],
                   check=False).returncode == 0:
            pass
        if _run(["iptables", "-w", "-t", "nat", "-L", self.chain, "-n"], check=False).returncode == 0:
            for step in (["-F", self.chain], ["-X", self.chain]):
                result = _run(["iptables", "-w", "-t", "nat", *step], check=False)
                if result.returncode != 0:
                    problems.append(f"iptables {' '.join(step)}: {result.stderr.strip()}")
        if self.created:
            result = _run(["ip", "link", "del", self.bridge], check=False)
            if result.returncode != 0 and "Cannot find device" not in result.stderr:
                problems.append(f"ip link del {self.bridge}: {result.stderr.strip()}")
            self.created = False
        return problems


# Chains a kubelet makes in the host's tables (its iptables canary and the localnet firewall). They are
# shared by every kubelet on the machine, so they are removed only when no other kubelet runs.
_KUBELET_CHAINS = {"filter": ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY"],
                   "mangle": ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"],
                   "nat": ["KUBE-KUBELET-CANARY"]}


def remove_kubelet_chains() -> list[str]:
    """Remove the kubelet's own iptables chains (IPv4 and IPv6) and the jumps to them."""
    problems = []
    for tool in ("iptables", "ip6tables"):
        for table, chains in _KUBELET_CHAINS.items():
            rules = _run([tool, "-w", "-t", table, "-S"], check=False).stdout.splitlines()
            for chain in chains:
                for rule in rules:
                    parts = rule.split()
                    if parts[:1] == ["-A"] and parts[1] != chain and parts[-2:] == ["-j", chain]:
                        _run([tool, "-w", "-t", table, "-D", *parts[1:]], check=False)
                if f"-N {chain}" in rules:
                    _run([tool, "-w", "-t", table, "-F", chain], check=False)
                    result = _run([tool, "-w", "-t", table, "-X", chain], check=False)
                    if result.returncode != 0:
                        problems.append(f"{tool} -t {table} -X {chain}: {result.stderr.strip()}")
    return problems
