"""Presets for real systems, each also a connection type of its own (`authapi_<profile name>`, e.g. `authapi_dastra`).

A profile supplies defaults beneath the connection: any field set on the connection wins. Its connection type's form
(connections/fields.py generates it from the profile and its base type's fields) shows only `form` and `advanced`,
labelled by `labels` and `help` where the system has words of its own, with the profile's values as the defaults;
every other field keeps the profile's value (or the base type's default) and is hidden. The same profile also still
works as the `profile` extra of a connection of its base type (`conn_type`).
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
    form: tuple[str, ...] = ()  # what a person fills in, first part of the form, in order
    advanced: tuple[str, ...] = ()  # the profile's values a person may change (endpoints, ...), a collapsed part
    labels: dict[str, str] = field(default_factory=dict)  # field -> label; a standard field not here is hidden
    help: dict[str, str] = field(default_factory=dict)  # field -> help text in the system's words


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


TRY_IT = ("test_endpoint", "timeout")  # every system type's last advanced fields
QUICKBOOKS_FORM: dict[str, Any] = {
    "form": ("redirect_uri", "realm_id", "refresh_token"),
    "advanced": ("consent_url", "login_url", *TRY_IT),
    "labels": {"host": "API base URL", "login": "Client ID", "password": "Client secret",
               "realm_id": "Company ID (realm ID)"},
    "help": {
        "redirect_uri": "This Airflow's <base URL>/oauth-consent/callback, also listed in the app's Redirect URIs "
        "(developer.intuit.com, Keys & credentials). Then Authorize it on Admin > API tokens.",
        "realm_id": "Empty: the consent stores the company (realmId) Intuit sends back. Usable as {realm_id} in "
        "endpoints.",
        "refresh_token": "Only if you hold one already (e.g. from Intuit's OAuth 2.0 Playground): used once, then "
        "the stored, rotated one. Hidden like a password.",
    },
}  # fmt: skip


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


SALESFORCE_FORM: dict[str, Any] = {
    "form": ("assertion_subject", "assertion_private_key"),
    "advanced": ("login_url", "assertion_audience", "default_lifetime", *TRY_IT),
    "labels": {"login": "Consumer key", "assertion_subject": "User name", "assertion_private_key": "Private key (PEM)"},
    "help": {
        "assertion_subject": "The integration user's Salesforce user name, pre-authorized for the connected app.",
        "assertion_private_key": "The unencrypted private key of the certificate uploaded to the connected app. "
        "Hidden like a password.",
        "default_lifetime": "Salesforce's answer names no lifetime: the org's session timeout (2 h by default).",
    },
}

SALESFORCE_DESCRIPTION = (
    "JWT bearer flow: the connected app's consumer key as Client ID, the user name as subject, its certificate's "
    "private key; no API base URL: endpoints start with {instance_url}, which the token response names."
)

# Zoho's data centres (zoho.com/accounts/protocol/oauth/multi-dc.html): the consent callback names the user's accounts
# server, the token answer its API domain. Credentials and token requests go to these origins only.
ZOHO_ACCOUNTS = ("zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zohocloud.ca", "zoho.sa", "zoho.uk",
                 "zoho.com.cn")  # fmt: skip
ZOHO_APIS = ("com", "eu", "in", "com.au", "jp", "ca", "sa", "uk", "com.cn")
ZOHO_ORIGINS = " ".join(
    [*(f"https://accounts.{domain}" for domain in ZOHO_ACCOUNTS), *(f"https://www.zohoapis.{tld}" for tld in ZOHO_APIS)]
)

AFTER_CONSENT_HELP = "This Airflow's <base URL>/oauth-consent/callback, also registered with the app. Then Authorize "
AFTER_CONSENT_HELP += "it on Admin > API tokens."

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
        form=("ca_cert_pem",),
        advanced=("login_url", "verify_tls", *TRY_IT),
        labels={
            "host": "Server URL",
            "login": "User name",
            "password": "Password",
            "ca_cert_pem": "Server certificate (PEM)",
        },
        help={"ca_cert_pem": "The server's certificate when it signs its own, as installs do: paste it whole."},
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
        advanced=("login_url", "refresh_url", *TRY_IT),
        labels={"host": "API base URL", "login": "Client ID", "password": "Secret"},
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
        advanced=("login_url", *TRY_IT),
        labels={"host": "API base URL", "login": "Public key", "password": "Private key"},
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
        form=("extra_body", "ca_cert_pem"),
        advanced=("login_url", "verify_tls", *TRY_IT),
        labels={
            "host": "Service Layer URL",
            "login": "User name",
            "password": "Password",
            "extra_body": "Company database",
            "ca_cert_pem": "Server certificate (PEM)",
        },
        help={
            "extra_body": 'Paste {"CompanyDB": "<company database>"}: the login carries it with the user name and '
            "password.",
            "ca_cert_pem": "The Service Layer's certificate when it signs its own, as installs do: paste it whole.",
        },
    ),
    Profile(
        "salesforce",
        "Salesforce (JWT bearer flow)",
        "authapi_oauth2",
        "",
        _salesforce("https://login.salesforce.com"),
        SALESFORCE_DESCRIPTION,
        **SALESFORCE_FORM,
    ),
    Profile(
        "salesforce_sandbox",
        "Salesforce sandbox (JWT bearer flow)",
        "authapi_oauth2",
        "",
        _salesforce("https://test.salesforce.com"),
        SALESFORCE_DESCRIPTION,
        **SALESFORCE_FORM,
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
        form=("scopes", "service_account_json"),
        advanced=TRY_IT,
        labels={"host": "API base URL"},
        help={
            "scopes": "The scopes the API needs, e.g. https://www.googleapis.com/auth/spreadsheets.readonly; "
            "separated by spaces or commas."
        },
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
        form=("tenant_id", "assertion_private_key", "assertion_cert_pem"),
        advanced=("scopes", "login_url", *TRY_IT),
        labels={
            "host": "API base URL",
            "login": "Application (client) ID",
            "assertion_private_key": "Certificate private key (PEM)",
            "assertion_cert_pem": "Certificate (PEM)",
        },
        help={
            "tenant_id": "The Directory (tenant) ID of the app registration, or the tenant's domain.",
            "assertion_private_key": "The unencrypted private key of the certificate uploaded to the app "
            "registration (Certificates & secrets). Hidden like a password.",
            "assertion_cert_pem": "That certificate: its SHA-256 thumbprint goes in every client assertion.",
        },
    ),
    Profile(
        "github_app",
        "GitHub App (installation)",
        "authapi_oauth2",
        "https://api.github.com",
        {
            "grant_type": "github_app",
            "login_url": "/app/installations/{installation_id}/access_tokens",
            "assertion_algorithm": "RS256",
            "assertion_lifetime": 600,  # iat a minute back, exp 9 minutes ahead: GitHub allows 10
            "extra_headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
            "test_endpoint": "/installation/repositories?per_page=1",
        },
        "A GitHub App as one installation: a JWT signed with the app's private key (RS256, iss the App ID) buys an "
        "installation token that lives 1 hour (an absolute expires_at); a new JWT buys the next one. One connection "
        "per installation.",
        form=("installation_id", "assertion_private_key"),
        advanced=("installation_permissions", "installation_repositories", "login_url", *TRY_IT),
        labels={
            "host": "API base URL",
            "login": "App ID or client ID",
            "installation_id": "Installation ID",
            "assertion_private_key": "Private key (PEM)",
        },
        help={
            "installation_id": "The number at the end of the installation's settings URL "
            "(github.com/organizations/<org>/settings/installations/<id>).",
            "assertion_private_key": "A private key generated in the app's settings (General, Private keys): paste "
            "the whole .pem file. Hidden like a password.",
            "installation_permissions": "Narrow the token to fewer permissions than the installation has. Paste a "
            'JSON object, e.g. {"contents": "read", "issues": "write"}. Empty: all of them.',
            "installation_repositories": "Narrow the token to these repositories of the installation: names without "
            "the owner, separated by spaces or commas. Empty: all of them.",
        },
    ),
    Profile(
        "netsuite",
        "NetSuite (token-based authentication)",
        "authapi_oauth1",
        "https://{account}.suitetalk.api.netsuite.com",
        {
            "signature_method": "HMAC-SHA256",  # HMAC-SHA1 is refused since 2023.1
            "test_endpoint": "/services/rest/record/v1/customer?limit=1",
        },
        "Token-based authentication (OAuth 1.0a): an integration record's consumer key and secret and a user's token "
        "ID and secret sign every request (HMAC-SHA256), the account ID as the realm; no token endpoint. The API base "
        "URL is the account's SuiteTalk host, filled from the account ID when left empty.",
        form=("realm", "token_id", "token_secret"),
        advanced=TRY_IT,
        labels={
            "host": "API base URL",
            "login": "Consumer key",
            "password": "Consumer secret",
            "realm": "Account ID",
            "token_id": "Token ID",
            "token_secret": "Token secret",
        },
        help={
            "realm": "The account ID as Setup > Company > Company Information shows it, e.g. 1234567 or 1234567_SB1 "
            "for a sandbox. It is the realm of every signature and names the API host: an empty API base URL is "
            "https://1234567-sb1.suitetalk.api.netsuite.com.",
            "token_id": "The token ID of an access token for the integration record (Setup > Users/Roles > Access "
            "Tokens), shown once when the token is made. Hidden like a password.",
            "token_secret": "That access token's secret, shown once with its ID. Hidden like a password.",
        },
    ),
    Profile(
        "zoho",
        "Zoho CRM (any data centre)",
        "authapi_oauth2",
        "{api_domain}",
        {
            "grant_type": "authorization_code",
            # access_type=offline: a refresh token; prompt=consent: a new one at each consent
            "consent_url": "https://accounts.zoho.com/oauth/v2/auth?access_type=offline&prompt=consent",
            "login_url": "{accounts_server}/oauth/v2/token",
            "revocation_url": "{accounts_server}/oauth/v2/token/revoke",
            "client_auth": "body",
            "scopes": "ZohoCRM.modules.READ",
            "consent_values": {"accounts_server": "accounts-server", "location": "location"},
            "answer_values": {"api_domain": "api_domain"},
            "header_prefix": "Zoho-oauthtoken",
            "allowed_origins": ZOHO_ORIGINS,
            "default_lifetime": 3600,
            "test_endpoint": "/crm/v8/Leads?fields=Last_Name&per_page=1",
        },
        "Authorization code with consent at accounts.zoho.com, whatever the user's data centre: the callback names "
        "its accounts server (accounts-server), which takes the code and every refresh; the token answer names its "
        "API domain (api_domain), the API base URL. Both are kept with the token, within Zoho's origins only.",
        form=("redirect_uri",),
        advanced=("scopes", "consent_url", "login_url", "allowed_origins", *TRY_IT),
        labels={"host": "API base URL", "login": "Client ID", "password": "Client secret"},
        help={
            "redirect_uri": AFTER_CONSENT_HELP.replace("the app", "the client (api-console.zoho.com)"),
            "scopes": "One Zoho scope, e.g. ZohoCRM.modules.READ (Zoho separates several with commas, not spaces: "
            "prefer one group scope).",
            "login_url": "{accounts_server} is the accounts server the consent callback names (accounts-server).",
            "allowed_origins": "Where the data centre's accounts server and API domain may be: Zoho's own.",
        },
    ),
    Profile(
        "xero",
        "Xero (accounting API)",
        "authapi_oauth2",
        "https://api.xero.com/api.xro/2.0",
        {
            "grant_type": "authorization_code",
            "consent_url": "https://login.xero.com/identity/connect/authorize",
            "login_url": "https://identity.xero.com/connect/token",
            "revocation_url": "https://identity.xero.com/connect/revocation",
            "client_auth": "basic",
            "scopes": "offline_access accounting.contacts.read accounting.settings.read",
            "discovery_url": "https://api.xero.com/connections",
            "discovery_values": {"tenant_id": "tenantId", "tenant_name": "tenantName"},
            "extra_headers": {"Xero-Tenant-Id": "{tenant_id}", "Accept": "application/json"},
            "default_lifetime": 1800,
            "test_endpoint": "/Organisation",
        },
        "Authorization code with consent, rotating refresh tokens; one token serves every organisation the user "
        "connected: /connections lists them after the consent, and every call names one in Xero-Tenant-Id (the "
        "connection's own: the first, or the one picked).",
        form=("redirect_uri", "discovery_match"),
        advanced=("scopes", "consent_url", "login_url", "extra_headers", *TRY_IT),
        labels={
            "host": "API base URL",
            "login": "Client ID",
            "password": "Client secret",
            "discovery_match": "Organisation",
        },
        help={
            "redirect_uri": AFTER_CONSENT_HELP.replace("the app", "the app (developer.xero.com, My Apps)"),
            "discovery_match": 'Which organisation calls go to: paste {"tenantName": "<name>"}. Empty: the first one '
            "the consent connected. A task may name another in its own Xero-Tenant-Id header: "
            "AuthApiHook(conn_id).discovered_entries() lists them all.",
            "extra_headers": "{tenant_id} is the organisation picked after the consent.",
        },
    ),
    Profile(
        "jira_cloud",
        "Jira Cloud (OAuth 2.0, 3LO)",
        "authapi_oauth2",
        "https://api.atlassian.com/ex/jira/{cloudid}",
        {
            "grant_type": "authorization_code",
            "consent_url": "https://auth.atlassian.com/authorize?prompt=consent",
            "login_url": "https://auth.atlassian.com/oauth/token",
            "client_auth": "body",
            "audience": "api.atlassian.com",
            "scopes": "read:jira-work read:jira-user offline_access",
            "discovery_url": "https://api.atlassian.com/oauth/token/accessible-resources",
            "discovery_values": {"cloudid": "id", "site_url": "url", "site_name": "name"},
            "test_endpoint": "/rest/api/3/myself",
        },
        "Atlassian's OAuth 2.0 (3LO) with consent, rotating refresh tokens; after the consent accessible-resources "
        "lists the sites the app may reach, and the API base URL is api.atlassian.com/ex/jira/{cloudid} of the one "
        "picked.",
        form=("redirect_uri", "discovery_match"),
        advanced=("scopes", "consent_url", "login_url", *TRY_IT),
        labels={"host": "API base URL", "login": "Client ID", "password": "Secret", "discovery_match": "Site"},
        help={
            "redirect_uri": AFTER_CONSENT_HELP.replace("the app", "the app (developer.atlassian.com, Authorization)"),
            "discovery_match": 'Which site calls go to: paste {"url": "https://<your-site>.atlassian.net"}. Empty: '
            "the first site the consent gave access to.",
        },
    ),
    Profile(
        "quickbooks_sandbox",
        "QuickBooks Online (sandbox)",
        "authapi_oauth2",
        "https://sandbox-quickbooks.api.intuit.com",
        QUICKBOOKS_OAUTH,
        "Authorization code with consent, rotating refresh tokens, realm id; the sandbox company API.",
        **QUICKBOOKS_FORM,
    ),
    Profile(
        "quickbooks_production",
        "QuickBooks Online (production)",
        "authapi_oauth2",
        "https://quickbooks.api.intuit.com",
        QUICKBOOKS_OAUTH,
        "Authorization code with consent, rotating refresh tokens, realm id; the production company API.",
        **QUICKBOOKS_FORM,
    ),
)
