"""Azure Key Vault provider: secrets through azure-keyvault-secrets with any TokenCredential.

Split by concern: ``names`` (the reversible key ↔ Azure name mapping), ``values`` (Python values ↔
stored strings), ``errors`` (azure-core errors → ours) and ``provider`` (``AzureKeyVaultSecrets``).
"""

from .names import decode as decode_name
from .names import encode as encode_name
from .provider import AzureKeyVaultSecrets

__all__ = ["AzureKeyVaultSecrets", "decode_name", "encode_name"]
