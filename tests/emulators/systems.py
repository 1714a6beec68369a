"""The real systems' emulators by name, and how to start one outside pytest (`python -m tests.emulators`)."""

from __future__ import annotations

import importlib
from typing import Any

from tests.emulators.tokens import TokenApi

SYSTEMS: dict[str, str] = {
    "amazon_sp": "tests.emulators.amazon_sp:AmazonSpEmulator",  # reports: create, poll, download
    "aspire": "tests.emulators.aspire:AspireEmulator",
    "astera": "tests.emulators.astera:AsteraEmulator",
    "appsmith": "tests.emulators.appsmith:AppsmithEmulator",
    "custom_grant": "tests.emulators.odd_login:OddLoginServer",  # a login and a signer of the user's own
    "dastra": "tests.emulators.dastra:DastraEmulator",
    "entra_id": "tests.emulators.entra:EntraEmulator",
    "github_app": "tests.emulators.github:GitHubEmulator",
    "google": "tests.emulators.google:GoogleEmulator",
    "hubspot": "tests.emulators.hubspot:HubSpotEmulator",
    "jira": "tests.emulators.jira:JiraEmulator",
    "netsuite": "tests.emulators.netsuite:NetSuiteEmulator",
    "quickbooks": "tests.emulators.quickbooks:QuickBooksEmulator",
    "salesforce": "tests.emulators.salesforce:SalesforceEmulator",
    "sap_b1": "tests.emulators.sap_b1:SapB1Emulator",
    "stripe": "tests.emulators.stripe:StripeEmulator",
    "xero": "tests.emulators.xero:XeroEmulator",
    "zoho": "tests.emulators.zoho:ZohoEmulator",
}


def emulator_class(name: str) -> type[TokenApi]:
    """The emulator class of system `name` (a key of SYSTEMS)."""
    try:
        module_name, _, class_name = SYSTEMS[name].partition(":")
    except KeyError:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(sorted(SYSTEMS))}") from None
    return getattr(importlib.import_module(module_name), class_name)


def start(name: str, **kwargs: Any) -> TokenApi:
    """Start system `name`'s emulator (for a standalone run: see tests/emulators/__main__.py)."""
    return emulator_class(name).standalone(**kwargs).start()
