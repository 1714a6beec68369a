"""Presets for real systems: pick one in the connection form and only credentials remain to fill in.

A profile supplies defaults beneath the connection: any field set on the connection wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    """Defaults for one system: its connection type, base URL and extra fields."""

    name: str
    label: str
    conn_type: str
    host: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def _profiles(*profiles: Profile) -> dict[str, Profile]:
    return {p.name: p for p in profiles}


QUICKBOOKS_OAUTH = {
    "grant_type": "authorization_code",
    "consent_url": "https://appcenter.intuit.com/connect/oauth2",
    "login_url": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    "scopes": "com.intuit.quickbooks.accounting",
    "client_auth": "basic",
    "default_lifetime": 3600,
    "extra_headers": {"Accept": "application/json"},
    "extra_query_params": {"minorversion": "75"},
}


def _salesforce(login_host: str) -> dict[str, Any]:
    """Salesforce's OAuth 2.0 JWT bearer flow at `login_host` (production or sandbox)."""
    return {
        "grant_type": "jwt_bearer",
        "login_url": f"{login_host}/services/oauth2/token",
        "assertion_audience": login_host,  # the login host, not the token URL
        "assertion_algorithm": "RS256",
        "assertion_lifetime": 180,  # Salesforce refuses an exp more than 3 minutes ahead
        "default_lifetime": 2 * 3600,  # no expires_in: the org's session timeout (2 h by default)
    }


SALESFORCE_DESCRIPTION = (
    "JWT bearer flow: the connected app's consumer key as Client ID, the user name as subject, its certificate's "
    "private key; no API base URL: endpoints start with {instance_url}, which the token response names."
)

PROFILES: dict[str, Profile] = _profiles(
    Profile(
        "astera",
        "Astera server API",
        "authapi_token",
        "https://localhost:9260",
        {
            "login_url": "/api/account/login",
            "request_format": "json",
            "username_field": "user",
            "pass_field": "password",
            "extra_body": {"rememberMe": True},
            "access_path": "access_token",
            "expires_in_path": "expires_in",
            "default_lifetime": 3600,
        },
        "User name + password posted to /api/account/login; bearer token with a validity period. Put the "
        "server's name in the base URL and, for its usual self-signed certificate, its CA certificate in ca_cert_pem.",
    ),
    Profile(
        "aspire",
        "Aspire External API",
        "authapi_token",
        "https://cloud-api.youraspire.com",
        {
            "login_url": "/Authorization",
            "request_format": "json",
            "username_field": "ClientId",
            "pass_field": "Secret",
            "access_path": "Token",
            "refresh_path": "RefreshToken",
            "refresh_url": "/Authorization/RefreshToken",
            "refresh_field": "RefreshToken",
            "default_lifetime": 24 * 3600,
        },
        "Client id + secret posted to /Authorization; a JWT (expiry from its exp) and a refresh token.",
    ),
    Profile(
        "dastra",
        "Dastra API",
        "authapi_oauth2",
        "https://api.dastra.eu",
        {
            "grant_type": "client_credentials",
            "login_url": "https://account.dastra.eu/connect/token",
            "client_auth": "basic",
            "scopes": "api1",
            "max_lifetime": 300,
        },
        "Client credentials with public:private key in a Basic header; tokens live 5 minutes whatever is declared.",
    ),
    Profile(
        "sap_b1",
        "SAP Business One Service Layer",
        "authapi_token",
        "https://localhost:50000",
        {
            "login_url": "/b1s/v1/Login",
            "request_format": "json",
            "username_field": "UserName",
            "pass_field": "Password",
            "credential_source": "cookie",
            "credential_name": "B1SESSION",
            "carry_cookies": "ROUTEID",
            "expires_in_path": "SessionTimeout",
            "lifetime_unit": "minutes",
            "default_lifetime": 30 * 60,
            "auth_location": "cookie",
            "cookie_name": "B1SESSION",
            "test_endpoint": "/b1s/v1/Items?$top=1&$select=ItemCode",
        },
        "UserName + Password (+ CompanyDB in extra_body) posted to /b1s/v1/Login; the B1SESSION and ROUTEID cookies "
        "go back on every call; the session lives SessionTimeout minutes. Put your server in the base URL.",
    ),
    Profile(
        "salesforce",
        "Salesforce (JWT bearer flow)",
        "authapi_oauth2",
        "",
        _salesforce("https://login.salesforce.com"),
        SALESFORCE_DESCRIPTION,
    ),
    Profile(
        "salesforce_sandbox",
        "Salesforce sandbox (JWT bearer flow)",
        "authapi_oauth2",
        "",
        _salesforce("https://test.salesforce.com"),
        SALESFORCE_DESCRIPTION,
    ),
    Profile(
        "google_service_account",
        "Google APIs (service account)",
        "authapi_oauth2",
        "https://www.googleapis.com",
        {
            "grant_type": "jwt_bearer",
            "assertion_algorithm": "RS256",
            "assertion_scope_claim": True,
        },
        "JWT bearer grant signed with a service account's key: paste its JSON key file in service_account_json, "
        "set the scopes and the API's host (e.g. https://sheets.googleapis.com).",
    ),
    Profile(
        "entra_id",
        "Microsoft Graph (Entra ID, certificate)",
        "authapi_oauth2",
        "https://graph.microsoft.com",
        {
            "grant_type": "client_credentials",
            "login_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
            "client_auth": "private_key_jwt",
            "assertion_algorithm": "RS256",
            "scopes": "https://graph.microsoft.com/.default",
        },
        "Client credentials with a certificate: the app's Client ID, your tenant ID, the certificate's private key "
        "and the certificate (its x5t#S256 thumbprint goes in every client assertion); scope .default of Graph.",
    ),
    Profile(
        "quickbooks_sandbox",
        "QuickBooks Online (sandbox)",
        "authapi_oauth2",
        "https://sandbox-quickbooks.api.intuit.com",
        QUICKBOOKS_OAUTH,
        "Authorization code with consent, rotating refresh tokens, realm id; the sandbox company API.",
    ),
    Profile(
        "quickbooks_production",
        "QuickBooks Online (production)",
        "authapi_oauth2",
        "https://quickbooks.api.intuit.com",
        QUICKBOOKS_OAUTH,
        "Authorization code with consent, rotating refresh tokens, realm id; the production company API.",
    ),
)
