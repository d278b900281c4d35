"""Shared pytest configuration: fixtures for the real components are loaded as plugins.

- tests.helpers.cluster: ``cluster`` / ``namespace`` (local control plane, or --use-existing-cluster)
- tests.helpers.vault_server: ``vault_server`` (HashiCorp Vault 1.14, MPL, dev mode over TLS)
- tests.helpers.azure_server: ``azure_vault`` (a Key Vault server on the wire: ours, or Lowkey Vault)
- tests.helpers.operator_process: ``operator`` / ``running_operator`` (the operator as a subprocess),
  ``no_background_operator``, ``kube``, ``crds``
- tests.helpers.node_cluster: ``node_cluster`` (a cluster with one real node and the operator image)
"""

pytest_plugins = ["tests.helpers.cluster", "tests.helpers.vault_server", "tests.helpers.azure_server",
                  "tests.helpers.operator_process", "tests.helpers.node_cluster"]
