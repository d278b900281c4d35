"""Which Azure AD authority an azure store's credential uses (``environmentType``), decided before any call."""

from __future__ import annotations

import pytest

from config_manager.k8s.stores.bindings.azure import AZURE_AUTHORITIES, azure_authority
from config_manager.k8s.stores.credentials import StoreNotReadyError

BASE = "spec.provider.azure"


@pytest.mark.parametrize("environment", sorted(AZURE_AUTHORITIES))
def test_each_azure_cloud_has_its_own_authority_and_keeps_instance_discovery(environment: str) -> None:
    settings = azure_authority({"environmentType": environment}, BASE)
    assert settings == {"authority": AZURE_AUTHORITIES[environment]}


def test_the_public_cloud_is_the_default() -> None:
    assert azure_authority({}, BASE) == {"authority": "login.microsoftonline.com"}


def test_azure_stack_takes_its_authority_from_custom_cloud_config_without_instance_discovery() -> None:
    spec = {"environmentType": "AzureStackCloud", "customCloudConfig": {"activeDirectoryEndpoint": "https://login.stack.example/"}}
    assert azure_authority(spec, BASE) == {"authority": "https://login.stack.example", "disable_instance_discovery": True}


@pytest.mark.parametrize("config", [None, {}, {"activeDirectoryEndpoint": "http://login.stack.example/"}])
def test_azure_stack_without_an_https_authority_names_the_field(config: object) -> None:
    spec = {"environmentType": "AzureStackCloud", "customCloudConfig": config}
    with pytest.raises(StoreNotReadyError, match=r"spec\.provider\.azure\.customCloudConfig\.activeDirectoryEndpoint"):
        azure_authority(spec, BASE)


def test_an_unknown_cloud_names_the_field() -> None:
    with pytest.raises(StoreNotReadyError, match=r"spec\.provider\.azure\.environmentType: unknown cloud 'MarsCloud'"):
        azure_authority({"environmentType": "MarsCloud"}, BASE)
